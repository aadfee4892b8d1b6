"""Drives taskhub's HTTP API with the real Python client, azure-functions-durable.

Run by tests/http_python.rs (which makes the venv and starts the server, a worker and Azurite):

    python durable_client_check.py ORIGIN HUB KEYED_ORIGIN KEY

ORIGIN serves without a key; the client's rpcBaseUrl is ORIGIN/runtime/webhooks/durabletask/.
KEYED_ORIGIN needs KEY; the client reaches it through the RPC prefix ORIGIN/durabletask/ (which
loopback callers use without a key, as the Functions host's local RPC listener). Every check is
an assert; the script prints one line per step and exits non-zero on the first failure.
"""

import asyncio
import json
import sys
import time
import urllib.error
import urllib.request
from datetime import datetime, timedelta, timezone

import azure.durable_functions as df
import azure.functions as func
from azure.durable_functions.models.utils import http_utils

S = df.OrchestrationRuntimeStatus
WAIT_SECONDS = 60


def binding(origin, rpc_base, hub, code=None):
    """The client binding JSON the Functions host hands a Python function (reference §2.1)."""
    base = f"{origin}/runtime/webhooks/durabletask"
    q = f"taskHub={hub}&connection=Storage" + (f"&code={code}" if code else "")
    inst = f"{base}/instances/INSTANCEID"
    return json.dumps({
        "taskHubName": hub,
        "creationUrls": {
            "createNewInstancePostUri": f"{base}/orchestrators/{{functionName}}[/{{instanceId}}]?{q}",
            "createAndWaitOnNewInstancePostUri":
                f"{base}/orchestrators/{{functionName}}[/{{instanceId}}]"
                f"?timeout={{timeoutInSeconds}}&pollingInterval={{intervalInSeconds}}&{q}",
        },
        "managementUrls": {
            "id": "INSTANCEID",
            "statusQueryGetUri": f"{inst}?{q}",
            "sendEventPostUri": f"{inst}/raiseEvent/{{eventName}}?{q}",
            "terminatePostUri": f"{inst}/terminate?reason={{text}}&{q}",
            "rewindPostUri": f"{inst}/rewind?reason={{text}}&{q}",
            "purgeHistoryDeleteUri": f"{inst}?{q}",
            "restartPostUri": f"{inst}/restart?{q}",
            "suspendPostUri": f"{inst}/suspend?reason={{text}}&{q}",
            "resumePostUri": f"{inst}/resume?reason={{text}}&{q}",
        },
        "baseUrl": base,
        "requiredQueryStringParameters": f"code={code}" if code else "",
        "rpcBaseUrl": rpc_base,
        "httpBaseUrl": None,
        "connectionName": None,
    })


def step(text):
    print(f"python client: {text}", flush=True)


async def poll(what, fetch, done):
    """Calls fetch() until done(result); fails after WAIT_SECONDS."""
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        result = await fetch()
        if done(result):
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting until {what}; last: {result!r}")
        await asyncio.sleep(0.1)


async def status_is(client, instance_id, status):
    return await poll(
        f"{instance_id} is {status}",
        lambda: client.get_status(instance_id),
        lambda s: s.runtime_status == status,
    )


async def raises(what, coro, expected_text=None):
    try:
        await coro
    except Exception as e:  # the client raises plain Exception for HTTP errors
        if expected_text is not None:
            assert expected_text in str(e), f"{what}: {e!r} does not mention {expected_text!r}"
        return e
    raise AssertionError(f"{what} did not raise")


def request_for(origin):
    return func.HttpRequest(method="POST", url=f"{origin}/api/start", body=b"", headers={})


async def check_plain(origin, hub):
    client = df.DurableOrchestrationClient(
        binding(origin, f"{origin}/runtime/webhooks/durabletask/", hub))

    # start_new with an object input: the wire carries JSON text inside a JSON string; the
    # status shows that string (as the host does), and the orchestration reads the object.
    assert await client.start_new("Typed", "py-typed", {"a": 1}) == "py-typed"
    st = await status_is(client, "py-typed", S.Running)
    assert bool(st)
    assert json.loads(st.input_) == {"a": 1}, st.input_
    assert st.created_time.tzinfo is not None
    await client.raise_event("py-typed", "Go", {"ok": True})
    st = await status_is(client, "py-typed", S.Completed)
    assert st.output == {"a": 1, "ok": True}, st.output
    step("start_new, get_status, raise_event: the orchestration read its input and event as objects")

    # A generated id, custom status, history.
    iid = await client.start_new("WaitForGo", None, {"a": 1})
    assert len(iid) == 32, iid
    st = await poll("custom status is set", lambda: client.get_status(iid),
                    lambda s: s.custom_status == {"waiting": "Go"})
    assert st.runtime_status == S.Running
    st = await client.get_status(iid, True, True, True)
    assert isinstance(st.historyEvents, list) and st.historyEvents, vars(st)
    assert st.historyEvents[0]["EventType"] == "ExecutionStarted"
    step("get_status with history")

    # Queries.
    since = datetime.now(timezone.utc).replace(tzinfo=None) - timedelta(hours=1)
    running = await client.get_status_by(created_time_from=since, runtime_status=[S.Running])
    assert iid in [s.instance_id for s in running], running
    typed = await client.get_status_by(instance_id_prefix="py-typed")
    assert [s.instance_id for s in typed] == ["py-typed"], typed
    everything = await client.get_status_all()
    assert {iid, "py-typed"} <= {s.instance_id for s in everything}
    step("get_status_by, get_status_all")

    # Suspend, resume, terminate (twice: 410 is fine for the client).
    await client.suspend(iid, "pause it")
    await status_is(client, iid, S.Suspended)
    await client.resume(iid, "go on")
    await status_is(client, iid, S.Running)
    await client.terminate(iid, "bye now & then")
    st = await status_is(client, iid, S.Terminated)
    assert st.output == "bye now & then", st.output
    await client.terminate(iid, "again")
    await raises("raise_event on a terminated instance", client.raise_event(iid, "Go", 1))
    step("suspend, resume, terminate")

    # Rewind: a pipeline whose step2 fails for one file (every attempt) is Failed; rewound, it
    # re-runs only that step and completes with every file's output.
    await client.start_new("OrchestratorFunc", "flaky-py",
                           {"rawDataPath": "raw-py", "numFiles": 3, "numRows": 3})
    st = await status_is(client, "flaky-py", S.Failed)
    assert "1.csv" in json.dumps(st.output), st.output
    await client.rewind("flaky-py", "fixed it")
    st = await status_is(client, "flaky-py", S.Completed)
    assert len(st.output) == 3 and all(len(f) == 4 for f in st.output), st.output
    step("rewind of a failed pipeline")

    # Restart (a new id) and rewind (refused: only failed instances).
    restarted = await client.restart("py-typed")
    new_id = restarted["id"] if isinstance(restarted, dict) else restarted
    assert new_id != "py-typed"
    await status_is(client, new_id, S.Running)
    await client.terminate(new_id, "done")
    await raises("rewind of a completed instance", client.rewind("py-typed", "fixed it"))
    step("restart, rewind refused")

    # Purge.
    purged = await client.purge_instance_history(iid)
    assert purged.instances_deleted == 1
    assert not await client.get_status(iid)
    assert (await client.purge_instance_history("nope")).instances_deleted == 0
    await status_is(client, new_id, S.Terminated)
    by = await client.purge_instance_history_by(
        created_time_from=since, runtime_status=[S.Terminated])
    assert by.instances_deleted == 1, vars(by)
    step("purge_instance_history, purge_instance_history_by")

    # Refusals the client turns into exceptions.
    # Any orchestrator name is accepted, as by the Functions host's client API; the worker,
    # which does not register it, leaves it Pending for one that does, and it can be terminated.
    unknown = await client.start_new("NoSuchOrch")
    await asyncio.sleep(1.5)
    assert (await client.get_status(unknown)).runtime_status == S.Pending
    await client.terminate(unknown, "no such orchestrator")
    await status_is(client, unknown, S.Terminated)
    await client.start_new("WaitForGo", "py-live")
    await raises("a second start of a live id", client.start_new("WaitForGo", "py-live"),
                 "already")
    await client.terminate("py-live", "cleanup")
    step("an unknown orchestrator waits for a worker that has it; a duplicate start is refused")

    # Entities: the operation input arrives double-encoded too; the entity reads a number.
    counter = df.EntityId("session_handler", "py-k")
    await client.signal_entity(counter, "add", 5)
    await client.signal_entity(df.EntityId("Session_Handler", "py-k"), "add", 2)
    state = await poll("the entity has its state", lambda: client.read_entity_state(counter),
                       lambda s: s.entity_exists and s.entity_state == {"count": 7})
    missing = await client.read_entity_state(df.EntityId("session_handler", "nobody"))
    assert not missing.entity_exists and missing.entity_state is None
    step(f"signal_entity, read_entity_state: {state.entity_state}")

    # wait_for_completion_or_create_check_status_response: the output, or the 202 on timeout.
    done_id = await client.start_new("Echo", None, [1, 2, 3])
    response = await client.wait_for_completion_or_create_check_status_response(
        request_for(origin), done_id, 20000, 200)
    assert response.status_code == 200, (response.status_code, response.get_body())
    assert json.loads(response.get_body()) == [1, 2, 3], response.get_body()
    slow_id = await client.start_new("WaitForGo", None, None)
    response = await client.wait_for_completion_or_create_check_status_response(
        request_for(origin), slow_id, 600, 200)
    assert response.status_code == 202, response.status_code
    payload = json.loads(response.get_body())
    assert payload["id"] == slow_id
    # The check-status URL the client made works against the server.
    with urllib.request.urlopen(payload["statusQueryGetUri"]) as r:
        assert r.status == 202 and json.loads(r.read())["instanceId"] == slow_id
    await client.terminate(slow_id, "cleanup")
    step("wait_for_completion_or_create_check_status_response")

    # The seed's pipeline, started as a Python function app starts it: its input arrives as JSON
    # text inside a JSON string, and the orchestrator still reads the object.
    seed_input = {"rawDataPath": "raw", "numFiles": "1", "numRows": "5"}
    assert await client.start_new("OrchestratorFunc", "py-pipeline", seed_input) == "py-pipeline"
    st = await poll("the pipeline finishes", lambda: client.get_status("py-pipeline"),
                    lambda s: s.runtime_status in (S.Completed, S.Failed))
    assert st.runtime_status == S.Completed, st.output
    assert isinstance(st.output, list) and len(st.output) == 1, st.output
    assert json.loads(st.input_) == seed_input, st.input_
    step(f"the pipeline (OrchestratorFunc) completed: {json.dumps(st.output)[:120]}")


async def check_keyed(origin, hub, key):
    # The public prefix wants the key...
    try:
        urllib.request.urlopen(f"{origin}/runtime/webhooks/durabletask/instances/")
        raise AssertionError("the keyed server answered without a key")
    except urllib.error.HTTPError as e:
        assert e.code == 401, e.code
        json.loads(e.read())
    # ...the RPC prefix does not, from loopback: the client works as it does under the host.
    client = df.DurableOrchestrationClient(binding(origin, f"{origin}/durabletask/", hub, key))
    assert await client.start_new("Typed", "py-keyed", {"a": 2}) == "py-keyed"
    await status_is(client, "py-keyed", S.Running)
    await client.raise_event("py-keyed", "Go", {"ok": False})
    st = await status_is(client, "py-keyed", S.Completed)
    assert st.output == {"a": 2, "ok": False}, st.output
    response = client.create_check_status_response(request_for(origin), "py-keyed")
    location = response.headers["Location"]
    assert location.endswith(f"&code={key}"), location
    with urllib.request.urlopen(location) as r:
        assert r.status == 200 and json.loads(r.read())["runtimeStatus"] == "Completed"
    step("keyed server: RPC prefix without a key, handed-out URLs with it")


async def main(origin, hub, keyed_origin, key):
    try:
        await check_plain(origin, hub)
        await check_keyed(keyed_origin, hub, key)
    finally:
        await http_utils._close_session()


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:5]))
    step("all checks passed")
