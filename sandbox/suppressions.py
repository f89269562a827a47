"""Unsubscribe groups and suppressions (SendGrid's "ASM"). Guarded by the state's lock."""

from __future__ import annotations


class Suppressions:
    def __init__(self, groups: dict[int, str]) -> None:
        self.groups = dict(groups)
        self.by_group: dict[int, list[str]] = {}
        self.global_emails: list[str] = []

    def add_to_group(self, group_id: int, emails: list[str]) -> list[str]:
        """SendGrid puts the emails on the global list when the group does not exist."""
        if group_id not in self.groups:
            return self.add_global(emails)
        return _add(self.by_group.setdefault(group_id, []), emails)

    def add_global(self, emails: list[str]) -> list[str]:
        return _add(self.global_emails, emails)

    def group_emails(self, group_id: int) -> list[str]:
        return list(self.by_group.get(group_id, []))

    def remove_from_group(self, group_id: int, email: str) -> None:
        emails = self.by_group.get(group_id, [])
        if email.lower() in emails:
            emails.remove(email.lower())

    def remove_global(self, email: str) -> None:
        if email.lower() in self.global_emails:
            self.global_emails.remove(email.lower())

    def clear(self) -> None:
        self.by_group.clear()
        self.global_emails.clear()

    def snapshot(self) -> dict:
        return {
            "global": list(self.global_emails),
            "groups": {str(gid): list(self.by_group.get(gid, [])) for gid in self.groups},
            "group_names": {str(gid): name for gid, name in self.groups.items()},
        }


def _add(target: list[str], emails: list[str]) -> list[str]:
    added = []
    for email in emails:
        normalized = email.strip().lower()
        if normalized not in target:
            target.append(normalized)
        added.append(normalized)
    return added
