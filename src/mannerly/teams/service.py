"""Creating, listing and changing teams and their members."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from mannerly.business_hours.hours import InvalidHours, parse_hours, validate_time_zone
from mannerly.errors import conflict, invalid, not_found
from mannerly.models import Conversation, ServiceSettings, Team, TeamMember, User

# A sensible default for a new team: Monday to Friday, 09:00–18:00.
WEEKDAY_HOURS: dict[str, Any] = {str(day): [["09:00", "18:00"]] for day in range(5)}


def _checked_target(name: str, minutes: int | None) -> int | None:
    """A response target in minutes: positive and below 30 days, or None."""
    if minutes is None:
        return None
    if not isinstance(minutes, int) or minutes <= 0 or minutes > 43_200:
        raise invalid(name, "a target is a whole number of minutes between 1 and 43200")
    return minutes


def _checked_hours(hours: dict[str, Any] | None, time_zone: str) -> tuple[dict[str, Any], str]:
    """Hours and zone after validation, or a 422 naming what is wrong."""
    try:
        parse_hours(hours)
        validate_time_zone(time_zone)
    except InvalidHours as error:
        field = "time_zone" if "time zone" in str(error) else "hours"
        raise invalid(field, str(error)) from error
    return {str(day): [list(pair) for pair in intervals] for day, intervals in (hours or {}).items()}, time_zone


def workspace_user(session: Session, workspace_id: int, user_id: int, field: str = "user_id") -> User:
    """A user of this workspace, or a 422 naming the field that referred to it."""
    user = session.get(User, user_id)
    if user is None or user.workspace_id != workspace_id:
        raise invalid(field, f"no user {user_id} in this workspace")
    return user


def find_team(session: Session, workspace_id: int, team_id: int) -> Team:
    """A team of this workspace, or a 404."""
    team = session.get(Team, team_id)
    if team is None or team.workspace_id != workspace_id:
        raise not_found("team", team_id)
    return team


def team_by_name(session: Session, workspace_id: int, name: str) -> Team | None:
    """The team with this name in the workspace (case-insensitive), if any."""
    for team in list_teams(session, workspace_id):
        if team.name.casefold() == name.strip().casefold():
            return team
    return None


def list_teams(session: Session, workspace_id: int) -> list[Team]:
    """The workspace's teams by name."""
    return list(session.scalars(select(Team).where(Team.workspace_id == workspace_id).order_by(Team.name)))


def create_team(session: Session, workspace_id: int, name: str, *, hours: dict[str, Any] | None = None,
                time_zone: str = "UTC", first_response_target_minutes: int | None = None,
                next_response_target_minutes: int | None = None, member_user_ids: tuple[int, ...] = (),
                now: datetime) -> Team:
    """A new team; hours default to none (always open)."""
    name = name.strip()
    if not name:
        raise invalid("name", "a team needs a name")
    if team_by_name(session, workspace_id, name) is not None:
        raise conflict(f"a team named '{name}' already exists")
    stored_hours, zone_name = _checked_hours(hours, time_zone)
    team = Team(workspace_id=workspace_id, name=name, hours=stored_hours, time_zone=zone_name,
                first_response_target_minutes=_checked_target("first_response_target_minutes",
                                                              first_response_target_minutes),
                next_response_target_minutes=_checked_target("next_response_target_minutes",
                                                             next_response_target_minutes),
                created_at=now)
    session.add(team)
    session.flush()
    for user_id in member_user_ids:
        add_member(session, team, user_id)
    return team


def update_team(session: Session, team: Team, changes: dict[str, Any]) -> Team:
    """Change a team's name, hours, zone or targets (keys left out stay as they are)."""
    if "name" in changes:
        name = (changes["name"] or "").strip()
        other = team_by_name(session, team.workspace_id, name)
        if not name:
            raise invalid("name", "a team needs a name")
        if other is not None and other.id != team.id:
            raise conflict(f"a team named '{name}' already exists")
        team.name = name
    if "hours" in changes or "time_zone" in changes:
        team.hours, team.time_zone = _checked_hours(changes.get("hours", team.hours),
                                                    changes.get("time_zone", team.time_zone))
    for field in ("first_response_target_minutes", "next_response_target_minutes"):
        if field in changes:
            setattr(team, field, _checked_target(field, changes[field]))
    session.flush()
    return team


def add_member(session: Session, team: Team, user_id: int) -> TeamMember:
    """Put an agent of the same workspace in the team (once)."""
    workspace_user(session, team.workspace_id, user_id, field="member_user_ids")
    existing = session.scalar(select(TeamMember).where(TeamMember.team_id == team.id, TeamMember.user_id == user_id))
    if existing is not None:
        return existing
    member = TeamMember(workspace_id=team.workspace_id, team_id=team.id, user_id=user_id)
    session.add(member)
    session.flush()
    return member


def remove_member(session: Session, team: Team, user_id: int) -> None:
    """Take an agent out of the team."""
    member = session.scalar(select(TeamMember).where(TeamMember.team_id == team.id, TeamMember.user_id == user_id))
    if member is not None:
        session.delete(member)
        session.flush()


def team_member_ids(session: Session, team: Team) -> list[int]:
    """The user ids of the team's members."""
    return list(session.scalars(select(TeamMember.user_id).where(TeamMember.team_id == team.id)
                                .order_by(TeamMember.user_id)))


def user_team_ids(session: Session, workspace_id: int, user_id: int) -> list[int]:
    """The teams an agent belongs to."""
    return list(session.scalars(select(TeamMember.team_id).where(TeamMember.workspace_id == workspace_id,
                                                                 TeamMember.user_id == user_id)))


def delete_team(session: Session, team: Team) -> None:
    """Delete a team; its conversations become unowned (conversations.team_id has no foreign key to do it)."""
    session.execute(update(Conversation).where(Conversation.team_id == team.id).values(team_id=None))
    session.execute(update(ServiceSettings).where(ServiceSettings.default_team_id == team.id)
                    .values(default_team_id=None))
    session.delete(team)
    session.flush()
