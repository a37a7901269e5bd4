from rag.conversation import Conversation, is_follow_up


def test_follow_ups_are_recognized():
    for q in ["ومتى حدث ذلك؟", "متى بدأت؟", "وماذا عن الصين؟", "Who is he?", "When did that happen?"]:
        assert is_follow_up(q), q


def test_standalone_questions_are_not_follow_ups():
    for q in ["ما هي عاصمة البرازيل؟", "من هي السفيرة الأمريكية لدى الأمم المتحدة؟",
              "What is the capital of Brazil?", "Who confirmed that North Korean troops fought in Kursk?"]:
        assert not is_follow_up(q), q


def test_resolution_combines_with_the_previous_query_and_stops_after_a_bounded_chain():
    c = Conversation()
    first = "من هي السفيرة الأمريكية لدى الأمم المتحدة؟"
    assert c.resolve(first) == first
    c.add(first, first)
    q2 = c.resolve("ومتى حدث ذلك؟")
    assert q2 == f"{first} ومتى حدث ذلك؟"
    c.add("ومتى حدث ذلك؟", q2)
    q3 = c.resolve("وأين؟")
    assert q3.startswith(q2)
    c.add("وأين؟", q3)
    assert c.resolve("ومن قال ذلك؟") == "ومن قال ذلك؟"  # chain of 2 reached: no endless growth
    # an unrelated question after a conversation is searched alone
    assert c.resolve("ما هي عاصمة البرازيل؟") == "ما هي عاصمة البرازيل؟"
    c.reset()
    assert c.resolve("ومتى حدث ذلك؟") == "ومتى حدث ذلك؟"


def test_replay_rebuilds_the_conversation_rag_chat_builds_turn_by_turn():
    from rag.conversation import Conversation

    turns = [("من هي السفيرة الأمريكية لدى الأمم المتحدة؟", "ليندا توماس غرينفيلد [1]"),
             ("ومتى حدث ذلك؟", "في 31 أغسطس [1]"), ("وماذا عن روسيا؟", ""), ("   ", "ignored")]
    live = Conversation()
    for question, answer in turns[:3]:
        live.add(question, live.resolve(question), answer)
    replayed = Conversation.replay(turns)
    assert replayed == live
    assert replayed.queries[1] == f"{turns[0][0]} {turns[1][0]}" and replayed.chain == live.chain
