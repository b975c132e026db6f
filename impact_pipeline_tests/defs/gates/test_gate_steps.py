"""Gates of tables one step writes run in one Dagster step, each still its own blocking check.

No `from __future__ import annotations` here: Dagster reads the resource annotations of the assets defined below.
"""

from impact_pipeline.defs.gates import suites as S
from impact_pipeline.defs.gates.specs import Suite
from impact_pipeline.settings import DEFAULT_CRITERIA_PATH


def test_gates_of_tables_written_by_one_step_run_in_one_step_each_its_own_check():
    from impact_pipeline.definitions import defs

    steps = {n.name for n in defs.resolve_job_def("impact_job").graph.node_defs}
    assert {"registry_tables_gates", "national_impact_gates"} <= steps
    assert not {"startups_contract", "national_impact_verdicts", "national_impact_criterion_b_evidence"} & steps
    specs = {f"{key.asset_key.to_user_string()}:{key.name}" for key in defs.resolve_asset_graph().asset_check_keys}
    assert {s.gate_name for s in S.ALL_SUITES} <= specs  # every suite is still its own check


def test_a_gate_that_cannot_run_fails_its_check_and_the_others_of_its_step_still_run(tmp_path):
    import dagster as dg

    from impact_pipeline.defs.criteria import CriteriaSettings
    from impact_pipeline.defs.gates.asset_checks import build_asset_checks
    from impact_pipeline.defs.gates.resources import GateEngine
    from impact_pipeline.defs.gates.specs import not_null
    from impact_pipeline.lib.warehouse import Warehouse

    warehouse = Warehouse(
        duckdb_path=str(tmp_path / "out.duckdb"), export_dir=str(tmp_path / "exports"), work_dir=str(tmp_path / "work")
    )

    @dg.multi_asset(specs=[dg.AssetSpec("gate_demo_a"), dg.AssetSpec("gate_demo_b")])
    def two_tables(warehouse: Warehouse):
        with warehouse.connect() as con:
            con.execute("CREATE OR REPLACE TABLE gate_demo_a AS SELECT 1 AS k")
            con.execute("CREATE OR REPLACE TABLE gate_demo_b AS SELECT 2 AS k")
        yield dg.MaterializeResult(asset_key="gate_demo_a")
        yield dg.MaterializeResult(asset_key="gate_demo_b")

    # The broken one comes first in the step: the good one must still be validated after it.
    broken = Suite(
        "gate_demo_a", "contract", "reads a missing table", [not_null("k")], frame_sql="SELECT * FROM nowhere"
    )
    good = Suite("gate_demo_b", "contract", "k present", [not_null("k")])
    checks = build_asset_checks([good, broken], {"gate_demo_a": "two_tables", "gate_demo_b": "two_tables"})
    assert [c.node_def.name for c in checks] == ["two_tables_gates"]
    result = dg.materialize(
        [two_tables, *checks],
        raise_on_error=False,
        resources={
            "warehouse": warehouse,
            "criteria": CriteriaSettings(path=str(DEFAULT_CRITERIA_PATH)),
            "gates": GateEngine(preload=False),
        },
    )
    assert not result.success
    evaluations = {
        e.event_specific_data.asset_key.to_user_string(): e.event_specific_data
        for e in result.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION"
    }
    assert evaluations["gate_demo_b"].passed  # validated although its step-mate could not be
    failing = warehouse.failing_gates()
    assert (
        set(failing) == {"gate_demo_a:contract"}
        and "could not be validated" in failing["gate_demo_a:contract"]["summary"]
    )
