"""English labels shared by the chart, the yearly report and `impact-pipeline explain`."""

CRITERIA_TITLES = {
    "a": "national deployment",
    "b": "significant impact",
    "c": "quality standards",
}

VERDICT_LABELS = {"pass": "pass", "fail": "fail", "unknown": "unknown"}

# The chart's series: summary column -> legend label.
CHART_SERIES = {
    "n_meeting_criteria": "meeting the criteria (stock)",
    "n_first_meeting": "meeting the criteria for the first time",
    "n_designated_in_year": "designated for the year",
    "n_designated_cumulative": "designated, cumulative",
}
