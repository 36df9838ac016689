import pytest

from bot.slash import SlashError, parse_channel, parse_slash
from bot.views.help import help_message, help_text


@pytest.mark.parametrize("text,name,arg", [
    ("", "help", ""), ("   ", "help", ""), (None, "help", ""), ("help", "help", ""),
    ("connect google", "connect", "google"), ("CONNECT Microsoft", "connect", "microsoft"),
    ("upcoming", "upcoming", ""), ("upcoming week", "upcoming", "week"),
    ("record 3", "record", "3"), ("skip Acme demo", "skip", "Acme demo"),
    ("notify <#C123|sales>", "notify", "<#C123|sales>"), ("disconnect ana@acme.com", "disconnect", "ana@acme.com"),
    ("status", "status", ""), ("digest", "digest", ""),
])
def test_grammar(text, name, arg):
    command = parse_slash(text)
    assert (command.name, command.arg) == (name, arg)


@pytest.mark.parametrize("text,message", [
    ("frobnicate", "I don't know `frobnicate`."),
    ("connect yahoo", "`/calbot connect` takes google|microsoft, not `yahoo`."),
    ("connect", "`/calbot connect` needs google|microsoft."),
    ("record", "`/calbot record` needs <meeting>."),
    ("upcoming month", "`/calbot upcoming` takes [today|tomorrow|week], not `month`."),
    ("status please", "`/calbot status` takes nothing after it."),
])
def test_bad_input_gets_a_specific_error(text, message):
    with pytest.raises(SlashError) as info:
        parse_slash(text)
    assert str(info.value) == message


def test_help_lists_every_command_and_error_comes_first():
    for name in ("connect", "calendars", "upcoming", "record", "skip", "rules", "settings", "digest",
                 "notify", "status", "disconnect"):
        assert f"/calbot {name}" in help_text()
    message = help_message("I don't know `x`.")
    assert message["text"].startswith("I don't know `x`.")
    assert message["blocks"][0]["text"]["text"].endswith("I don't know `x`.")


def test_channel_references():
    assert parse_channel("<#C0123|sales-calls>").id == "C0123"
    assert parse_channel("#sales-calls").name == "sales-calls"
    assert parse_channel("sales") is None
