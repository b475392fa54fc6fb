from tests.actors.conftest import client, event, request, running_service, service_settings


async def test_a_student_then_a_dashboard(tmp_path) -> None:
    async with running_service(service_settings(tmp_path)) as service, client(service) as ui:
        for t, log in enumerate(["voltage", "speed", "voltage"]):
            await ui.send(event("u1", log, t))
        replies = await ui.ask(request("u1", "indicators", id=1), 1)
        assert replies[0]["indicators"]["edges"] > 0
        assert replies[0]["id"] == 1
