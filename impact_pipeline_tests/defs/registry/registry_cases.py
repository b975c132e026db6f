"""Registry documents that exercise every rule of the registry parse (`defs/registry/parse.py`).

`DOCUMENT` holds one record per branch: records that are not objects or have no usable id, duplicate ids,
attributes, phases and events of every wrong shape, text given as numbers/booleans/objects/lists, text
over 10,000 characters, blanks Python strips (NBSP, ideographic space…), dates in every odd spelling,
refused and accepted link schemes, list attributes with non-text items, incubator relationships and
`included` entries of every shape. `golden/registry_cases.json` is what the Python parser that the SQL
replaced made of it. `SHAPES` are whole documents: odd `included` values, and documents that are refused.
"""

import json

P = [{"name": "investigation", "start": "2019-01-01", "end": "2019-06-30"}, {"name": "acceleration", "start": "2020-01-01"}]

def rec(sid, **attrs):
    return {"id": sid, "type": "startup", "attributes": {"name": sid.upper(), "phases": P, **attrs},
            "relationships": {"incubator": {"data": {"type": "incubator", "id": "inc-a"}}}}

DOCUMENT = {
    "data": [
        rec("ok", pitch="  Une mission  ", link="https://ok.example.org ", contact="a@b.c", accessibility_status="partiellement conforme",
            sponsors=["/organisations/x", " y ", 3, 2.5, 1e20, True, None, {"a": 1}, ["l"]], thematiques=["Santé"], usertypes=[],
            events=[{"name": "national_impact", "date": "2023-05-01", "comment": " désigné "}, {"name": "product_launch", "date": "2021-02-03T10:00:00Z"}]),
        # record-level
        "a string record", 42, None, [1, 2], True, 1.5, {"attributes": {}}, {"id": None}, {"id": 7}, {"id": "   "}, {"id": ""},
        {"id": ["x"]}, {"id": {"k": "v"}}, {"id": 1.0},
        rec(" spaced "), rec("spaced"),  # duplicate after strip
        rec("ok"),  # duplicate
        # attributes
        {"id": "no-attrs"}, {"id": "attrs-null", "attributes": None}, {"id": "attrs-list", "attributes": [1, "a"]},
        {"id": "attrs-str", "attributes": "x" * 300}, {"id": "attrs-num", "attributes": 12},
        # phases
        rec("ph-null", phases=None), rec("ph-str", phases="acceleration"), rec("ph-obj", phases={"name": "acceleration", "start": "2020-01-01"}),
        rec("ph-num", phases=0), rec("ph-empty", phases=[]), rec("ph-false", phases=False),
        rec("ph-entries", phases=["acceleration", 3, None, [], {"name": None, "start": "2020-01-01"}, {"start": "2020-01-01"},
                                   {"name": "", "start": "x"}, {"name": "   ", "start": "x"}, {"name": 5, "start": "2020-01-01"},
                                   {"name": True, "start": "2020-01-01"}, {"name": {"n": 1}, "start": "2020-01-01"},
                                   {"name": ["acceleration"], "start": "2020"}, {"name": "Acceleration ", "start": " 2020-02-01 "},
                                   {"name": "ACCÉLÉRATION", "start": "2020-01-01"}, {"name": "success", "start": "2018-01-01", "end": "2017-01-01"},
                                   {"name": "alumni", "start": None, "end": None}, {"name": "transfer", "start": "", "end": ""},
                                   {"name": "perennisation", "start": "   ", "end": "  "}, {"name": "construction", "start": 20200101, "end": 2021},
                                   {"name": "opere", "start": "2020-13-01", "end": "2020-02-30"}, {"name": "opere", "start": "2020/01/01", "end": True},
                                   {"name": "opere", "start": "20200105", "end": "2021-W01-1"}, {"name": "opere", "start": "2020-01-05 12:00", "end": "2020-01-05T"},
                                   {"name": "opere", "start": "0000-01-01", "end": {"d": "2020-01-01"}}, {"name": "opere", "start": "2020-1-5", "end": ["2020-01-01"]},
                                   {"name": "opere", "start": "2020-01-05x", "end": "2020-01-04"}, {"name": "x" * 12000, "start": "2021-01-01"},
                                   {"name": "inconnue", "start": "2022-01-01"}, {"name": "inconnue", "start": "2022-01-01"}]),
        rec("ph-only-bad", phases=[{"name": ""}, "x", {"start": "2020-01-01", "end": "2020-01-02"}]),
        rec("ph-future", phases=[{"name": "construction", "start": "2030-01-01"}]),
        rec("ph-ties", phases=[{"name": "acceleration", "start": "2020-01-01"}, {"name": "construction", "start": "2020-01-01"},
                               {"name": "inconnue", "start": "2021-01-01"}, {"name": "success", "start": "2021-01-01"},
                               {"name": "inconnue2", "start": "2024-01-01"}, {"name": "inconnue3", "start": "2024-01-01"}]),
        rec("ph-unknown-last", phases=[{"name": "acceleration", "start": "2020-01-01"}, {"name": "weird", "start": "2021-01-01"}]),
        rec("ph-asof-tie", phases=[{"name": "acceleration", "start": "2026-01-15"}, {"name": "opere", "start": "2026-01-15"}, {"name": "abandon", "start": "2026-01-16"}]),
        # events
        rec("ev-str", events="none"), rec("ev-empty-str", events=""), rec("ev-zero", events=0), rec("ev-zero-float", events=0.0),
        rec("ev-one", events=1), rec("ev-false", events=False), rec("ev-true", events=True), rec("ev-obj", events={"name": "x"}),
        rec("ev-empty-obj", events={}), rec("ev-null", events=None), rec("ev-space", events=" "), rec("ev-nan", events=float("nan")),
        rec("ev-entries", events=["x", 1, None, {"name": None, "date": "2020-01-01"}, {"date": "bad"}, {"name": " ", "comment": 5},
                                   {"name": 3, "date": None, "comment": None}, {"name": "a", "date": "", "comment": ["c"]},
                                   {"name": "b", "date": "2020-02-30", "comment": {"c": 1}}, {"name": "c", "date": 5, "comment": True},
                                   {"name": "d", "date": "2020-01-01", "comment": "y" * 10001}, {"name": ["n"], "date": "2020-01-01"}]),
        # text fields
        rec("txt", name=12345, pitch=1.5, contact=True, accessibility_status="", link=1e5, stats_url=-0.0, impact_url=12345678901234567890123,
            budget_url=False, repository=None),
        rec("txt2", name={"fr": "Nom"}, pitch=["a"], contact=float("inf"), accessibility_status="   ", link={"u": "javascript:x"}, stats_url=["x"]),
        rec("txt3", name="", pitch="p" * 10000, contact="c" * 10001, accessibility_status=" " * 20000 + "x"),
        rec("txt4", name="   "), rec("txt5", name=None), rec("txt6", name="n" * 20000, pitch="\u3000\u00a0 padded\u2028 \x85"),
        rec("txt7", name="\x00nul\x00", pitch="🚀" * 10001, contact="e\u0301" * 6000),
        # links
        rec("links", link="javascript:alert(1)", stats_url="  JavaScript:void(0)", impact_url="file:///etc/passwd", budget_url="ftp://x/",
            repository="data:text/html,x"),
        rec("links2", link="java\tscript:alert(1)", stats_url="\x01javascript:x", impact_url="HTTP://ok", budget_url="example.org:8080/x",
            repository="www.example.org"),
        rec("links3", link="mailto:a@b.c", stats_url="/stats", impact_url="https://", budget_url="vbscript:x", repository="git@github.com:a/b.git"),
        rec("links4", link="Https://x", stats_url="  https://x", impact_url="hTTps://x", budget_url="x:", repository="a" * 10005 + ":x"),
        rec("links5", link="javascript:" + "x" * 300, stats_url="http:x", impact_url="ſ:x", budget_url="example.org:²", repository=5),
        # lists
        rec("lists", sponsors="not-a-list", thematiques={"a": 1}, usertypes=3),
        rec("lists2", sponsors=None, thematiques=True, usertypes=[" a ", "", "  "]),
        rec("lists3", sponsors=[1.0, 100000000000000000000000, -0, float("nan")], thematiques=0, usertypes=[[]]),
        # incubator relationship shapes
        {"id": "rel1", "attributes": {"name": "R", "phases": P}, "relationships": None},
        {"id": "rel2", "attributes": {"name": "R", "phases": P}, "relationships": []},
        {"id": "rel3", "attributes": {"name": "R", "phases": P}, "relationships": {"incubator": None}},
        {"id": "rel4", "attributes": {"name": "R", "phases": P}, "relationships": {"incubator": {"data": None}}},
        {"id": "rel5", "attributes": {"name": "R", "phases": P}, "relationships": {"incubator": {"data": {"id": 5}}}},
        {"id": "rel6", "attributes": {"name": "R", "phases": P}, "relationships": {"incubator": {"data": [{"id": "x"}]}}},
        {"id": "rel7", "attributes": {"name": "R", "phases": P}, "relationships": {"incubator": {"data": {"id": " sp "}}}},
        {"id": "rel8", "attributes": {"name": "R", "phases": P}, "relationships": "inc"},
        {"id": "rel9", "attributes": {"name": "R", "phases": P}, "relationships": {"incubator": "x"}},
        # unicode
        {"id": "ünï-🚀", "attributes": {"name": "خدمة · 公共服务", "phases": P, "pitch": "é\n\t\"quoted\" \\ back"}},
    ],
    "included": [
        {"id": "inc-a", "type": "incubator", "attributes": {"title": " Incubateur A ", "owner": "/organisations/a", "website": "", "github": 5, "contact": None}},
        {"id": "inc-a", "type": "incubator", "attributes": {"title": "dup"}},
        {"id": "", "type": "incubator"}, {"id": None}, {"id": 3}, {"type": "incubator"},
        {"id": "inc-b", "attributes": ["x"]}, {"id": "inc-c", "type": "organisation"}, {"id": "inc-d", "type": None},
        {"id": " inc-e ", "attributes": {"title": {"t": 1}, "owner": ["o"], "website": "w" * 10001, "github": True, "contact": 1.25}},
        "string", 5, None, [],
        {"id": "inc-f", "type": "incubator", "attributes": None},
    ],
}

SHAPES = {
    "included-str": json.dumps({"data": [], "included": "x"}),
    "included-obj": json.dumps({"data": [], "included": {"id": "a"}}),
    "included-empty-obj": json.dumps({"data": [], "included": {}}),
    "included-zero": json.dumps({"data": [], "included": 0}),
    "included-one": json.dumps({"data": [], "included": 1}),
    "included-null": json.dumps({"data": [], "included": None}),
    "included-empty-str": json.dumps({"data": [], "included": ""}),
    "no-included": json.dumps({"data": [{"id": "a"}]}),
    "empty": json.dumps({"data": []}),
    "data-obj": json.dumps({"data": {"id": "x"}}),
    "data-null": json.dumps({"data": None}),
    "no-data": json.dumps({"links": {}}),
    "root-list": json.dumps([1, 2]),
    "root-str": json.dumps("x"),
    "root-num": "1.5",
    "truncated": '{"data": [{"id": "a", "attributes": {',
    "not-json": "<html>maintenance</html>",
    "empty-body": "",
}
