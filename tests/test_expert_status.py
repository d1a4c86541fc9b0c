"""The expert status state machine, table-driven: state × actor × action, through its one
caller ``transition`` (the 暂停 / 恢复 / 清退 transitions have no screen yet: issue 14)."""
import pytest

from app.models import Expert, ExpertStatus
from app.services.expert_status import TRANSITIONS, TransitionError, transition

S = ExpertStatus
OWNER = 7

# (from, action, actor) -> expected target, or None when refused
EXPECTED = {
    (S.DRAFT, "submit", "expert"): S.PENDING,
    (S.RETURNED, "submit", "expert"): S.PENDING,
    (S.PENDING, "approve", "reviewer"): S.ADMITTED,
    (S.PENDING, "approve", "admin"): S.ADMITTED,
    (S.PENDING, "return", "reviewer"): S.RETURNED,
    (S.PENDING, "return", "admin"): S.RETURNED,
    (S.ADMITTED, "suspend", "reviewer"): S.SUSPENDED,
    (S.ADMITTED, "suspend", "admin"): S.SUSPENDED,
    (S.SUSPENDED, "resume", "reviewer"): S.ADMITTED,
    (S.SUSPENDED, "resume", "admin"): S.ADMITTED,
    (S.ADMITTED, "remove", "admin"): S.REMOVED,
    (S.SUSPENDED, "remove", "admin"): S.REMOVED,
}
CASES = [(state, action, actor) for state in S for action in TRANSITIONS
         for actor in ("expert", "reviewer", "admin")]


@pytest.mark.parametrize("state, action, actor", CASES)
def test_transition_table(state, action, actor):
    expert = Expert(status=state.value, user_id=OWNER)
    expected = EXPECTED.get((state, action, actor))
    if expected is None:
        with pytest.raises(TransitionError):
            transition(expert, action, actor_kind=actor, actor_id=OWNER, opinion="意见")
        assert expert.status == state.value
        assert expert.review_records == []  # a refused action leaves no 审核记录
    else:
        record = transition(expert, action, actor_kind=actor, actor_id=OWNER, opinion="意见")
        assert expert.status == expected.value
        assert (record.from_status, record.to_status) == (state.value, expected.value)
        assert record.action == TRANSITIONS[action].action
        assert expert.review_records == [record]  # the allowed action is recorded, once


def test_expert_cannot_submit_someone_elses_application():
    expert = Expert(status=S.DRAFT.value, user_id=OWNER)
    with pytest.raises(TransitionError):
        transition(expert, "submit", actor_kind="expert", actor_id=OWNER + 1)


def test_return_needs_an_opinion():
    expert = Expert(status=S.PENDING.value, user_id=OWNER)
    with pytest.raises(TransitionError, match="审核意见"):
        transition(expert, "return", actor_kind="reviewer", actor_id=1, opinion="  ")
    assert expert.status == S.PENDING.value
