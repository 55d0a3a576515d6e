"""``SearchingExpert`` on hand-written turns: it follows the planner only where the planner needs nothing unseen."""

from envs.alfworld.searcher import SearchingExpert

TASK = "put some book on desk."
PLAN = ["go to shelf 1", "take book 1 from shelf 1", "go to desk 1", "move book 1 to desk 1"]
ROOM = ["go to armchair 1", "go to desk 1", "go to drawer 1", "go to shelf 1", "inventory", "look"]


def test_first_move_searches_in_list_order_and_skips_the_task_receptacle():
    expert = SearchingExpert(TASK)
    assert expert.act(PLAN, ROOM) == "go to armchair 1"
    expert.observe("go to armchair 1", "You arrive at armchair 1. On the armchair 1, you see nothing.")
    # desk 1 comes before drawer 1 in the list, but it is where the book goes, not where it is
    assert (
        expert.act(PLAN, [a for a in ROOM if a != "go to armchair 1"] + ["examine armchair 1"])
        == "go to drawer 1"
    )


def test_a_closed_receptacle_is_opened_before_moving_on():
    expert = SearchingExpert(TASK)
    expert.observe("go to drawer 1", "You arrive at drawer 1. The drawer 1 is closed.")
    here = ["go to armchair 1", "go to desk 1", "go to shelf 1", "open drawer 1"]
    assert expert.act(PLAN, here) == "open drawer 1"
    expert.observe("open drawer 1", "You open the drawer 1. The drawer 1 is open. In it, you see nothing.")
    assert expert.act(PLAN, here) == "go to armchair 1"


def test_follows_the_planner_once_the_object_was_seen_and_for_known_places():
    expert = SearchingExpert(TASK)
    expert.observe("go to shelf 1", "You arrive at shelf 1. On the shelf 1, you see a book 1.")
    assert expert.act(PLAN[1:], ROOM) == "take book 1 from shelf 1"
    # walking to the desk to put the book down needs no hidden knowledge
    expert.observe("take book 1 from shelf 1", "You pick up the book 1 from the shelf 1.")
    assert expert.act(PLAN[2:], ROOM) == "go to desk 1"
    # the planner walking back to a place already looked into is followed as well
    expert = SearchingExpert(TASK)
    expert.observe("go to shelf 1", "You arrive at shelf 1. On the shelf 1, you see a book 1.")
    expert.observe("go to armchair 1", "You arrive at armchair 1. On the armchair 1, you see nothing.")
    assert expert.act(PLAN, ROOM) == "go to shelf 1"


def test_nothing_left_to_search_falls_back_to_the_planner_and_no_plan_is_none():
    expert = SearchingExpert(TASK)
    for place in ("armchair 1", "desk 1", "drawer 1"):
        expert.observe(f"go to {place}", f"You arrive at {place}. On the {place}, you see nothing.")
    assert expert.act(PLAN, ["go to armchair 1", "go to desk 1", "go to shelf 1"]) == "go to shelf 1"
    assert expert.act(PLAN, ["go to armchair 1", "go to desk 1", "look"]) == "go to shelf 1"
    assert expert.act([], ROOM) is None
    # a failed command ("Nothing happens.") changes nothing the expert tracks
    expert = SearchingExpert(TASK)
    expert.observe("go to armchair 1", "Nothing happens.")
    assert expert.location is None and not expert.checked
