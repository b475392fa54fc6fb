import gc

from tests.actors.conftest import client, event, request, running_service, service_settings


async def test_a_student_then_a_dashboard(tmp_path) -> None:
    async with running_service(service_settings(tmp_path)) as service, client(service) as ui:
        for t, log in enumerate(["voltage", "speed", "voltage"]):
            await ui.send(event("u1", log, t))
        replies = await ui.ask(request("u1", "indicators", id=1), 1)
        assert replies[0]["indicators"]["edges"] > 0
        assert replies[0]["id"] == 1


async def test_what_start_up_built_is_out_of_the_collectors_sight(tmp_path) -> None:
    """Full collections then scan only what serving creates (20 -> 2 ms under load)."""
    gc.unfreeze()
    assert gc.get_freeze_count() == 0
    async with running_service(service_settings(tmp_path)):
        assert gc.get_freeze_count() > 10_000  # modules, numpy, the courses
