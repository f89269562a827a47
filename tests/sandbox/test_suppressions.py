"""The suppression endpoints: group and global suppressions, and the DELETE of one email."""

from __future__ import annotations

from urllib.parse import quote


def test_group_suppressions_add_list_and_delete(sandbox):
    path = f"/v3/asm/groups/{sandbox.group_id}/suppressions"
    response = sandbox.api("POST", path, json={"recipient_emails": ["Ann@Example.com", "bob@example.com"]})
    assert response.status_code == 201
    assert response.json() == {"recipient_emails": ["ann@example.com", "bob@example.com"]}
    assert sandbox.api("GET", path).json() == ["ann@example.com", "bob@example.com"]

    response = sandbox.api("DELETE", f"{path}/{quote('ann@example.com')}")
    assert response.status_code == 204 and response.content == b""
    assert sandbox.api("GET", path).json() == ["bob@example.com"]
    assert sandbox.suppressions()["groups"][str(sandbox.group_id)] == ["bob@example.com"]


def test_a_group_that_does_not_exist_suppresses_globally(sandbox):
    response = sandbox.api("POST", "/v3/asm/groups/999/suppressions", json={"recipient_emails": ["a@example.com"]})
    assert response.status_code == 201
    assert sandbox.suppressions()["global"] == ["a@example.com"]
    assert sandbox.api("GET", "/v3/asm/suppressions/global").json() == ["a@example.com"]


def test_global_suppressions_add_read_and_delete(sandbox):
    path = "/v3/asm/suppressions/global"
    response = sandbox.api("POST", path, json={"recipient_emails": ["a@example.com"]})
    assert (response.status_code, response.json()) == (201, {"recipient_emails": ["a@example.com"]})
    assert sandbox.api("GET", f"{path}/a%40example.com").json() == {"recipient_email": "a@example.com"}
    assert sandbox.api("DELETE", f"{path}/a%40example.com").status_code == 204
    assert sandbox.api("GET", f"{path}/a%40example.com").json() == {}
    assert sandbox.suppressions()["global"] == []


def test_groups_can_be_added_at_runtime_and_at_start(sandbox, sandbox_factory):
    sandbox.add_group(202, "Newsletter")
    sandbox.api("POST", "/v3/asm/groups/202/suppressions", json={"recipient_emails": ["a@example.com"]})
    assert sandbox.suppressions()["groups"]["202"] == ["a@example.com"]
    box = sandbox_factory(groups={7: "Seven"})
    box.api("POST", "/v3/asm/groups/7/suppressions", json={"recipient_emails": ["b@example.com"]})
    assert box.suppressions()["groups"] == {"7": ["b@example.com"]}


def test_recipient_emails_must_be_a_list(sandbox):
    response = sandbox.api("POST", "/v3/asm/suppressions/global", json={"recipient_emails": "a@example.com"})
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "recipient_emails"
