"""Flow runs whose process died with nobody watching: marked Crashed, alerted once.

A flow-run process that dies is normally seen by the runner that started it: the runner marks
the run Crashed and runs the flow's `on_crashed` hook, which alerts (`deployment.options`). If
the runner is gone too (killed, its machine lost) the run stays Running for ever: nothing else
watches the process. Prefect's answer is heartbeats and an automation ("detect zombie flows" in
Prefect's docs): every deployment run emits `prefect.flow-run.heartbeat` events
(`PREFECT_FLOWS_HEARTBEAT_FREQUENCY`, 30 s in the stack); a proactive trigger fires when a run
that sent one sends neither another nor a final state within `SILENCE`, and its actions

1. set the run Crashed (as the runner would have), and
2. run the `alert_unresponsive_run` deployment with the run's id: the same alert as a failed
   run, from a flow run of its own (the dead process cannot send it). Its flow run waits for a
   runner, so the alert comes once the runner is back.

The runner's own crash detection ends the run before the silence is over, and a run that
reached a final state satisfies the trigger: one alert per run either way.
"""

from __future__ import annotations

from datetime import timedelta
from uuid import UUID

from prefect import flow
from prefect.client.orchestration import get_client

from mlpipeline import pipelines
from prefect_impl.hooks import alert_on_failure

AUTOMATION = "ml_pipeline: crash and alert unresponsive flow runs"
ALERT_DEPLOYMENT = "alert"
SILENCE = timedelta(seconds=90)  # three heartbeats missed


@flow(name="alert_unresponsive_run")
def alert_unresponsive_run(flow_run_resource: str) -> bool:
    """The alert of a pipeline run the automation marked Crashed (`prefect.flow-run.<id>`);
    False for a run that is not a pipeline's (a benchmark flow, this flow)."""
    flow_run_id = UUID(flow_run_resource.rsplit(".", 1)[1])
    with get_client(sync_client=True) as client:
        flow_run = client.read_flow_run(flow_run_id)
        crashed_flow = client.read_flow(flow_run.flow_id)
    try:
        pipelines.by_dag_id(crashed_flow.name)
    except KeyError:
        return False
    alert_on_failure(crashed_flow, flow_run, flow_run.state)
    return True


def ensure_automation(alert_deployment_id: UUID) -> UUID:
    """Create the automation, replacing one of the same name (a runner restarting, a new
    alert deployment id)."""
    from prefect.client.schemas.objects import StateType
    from prefect.events.actions import ChangeFlowRunState, RunDeployment
    from prefect.events.schemas.automations import AutomationCore, EventTrigger, Posture

    final = {f"prefect.flow-run.{s}" for s in ("Completed", "Failed", "Cancelled", "Crashed")}
    automation = AutomationCore(
        name=AUTOMATION,
        trigger=EventTrigger(
            after={"prefect.flow-run.heartbeat"},
            expect={"prefect.flow-run.heartbeat", *final},
            match={"prefect.resource.id": "prefect.flow-run.*"},
            for_each={"prefect.resource.id"},
            posture=Posture.Proactive,
            threshold=1,
            within=SILENCE,
        ),
        actions=[
            ChangeFlowRunState(
                state=StateType.CRASHED,
                message=f"No heartbeat for {SILENCE.seconds} s: the flow-run process is gone",
            ),
            RunDeployment(
                source="selected",
                deployment_id=alert_deployment_id,
                # a proactive trigger has no event: the run is the bucket's resource label
                parameters={"flow_run_resource": "{{ labels.prefect.resource.id | string }}"},
            ),
        ],
    )
    with get_client(sync_client=True) as client:
        for old in client.read_automations_by_name(AUTOMATION):
            client.delete_automation(old.id)
        return client.create_automation(automation)
