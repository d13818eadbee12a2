"""BFCL's action language on the shared tool-call parser (`earlyexp.envs.toolcalls`).

An action is either the end-of-turn marker `end_turn` (or `end_turn()`), or
one or more calls in Python syntax, parsed with `ast` and never evaluated:

    cd(folder='document')
    [mkdir(dir_name='temp'), mv(source='a.txt', destination='temp')]
    mkdir(dir_name='temp'); cd(folder='temp')

The shared parser's rules apply (bare function names, literal arguments,
one length limit); this module only adds `end_turn`, which must stand alone.
"""
from __future__ import annotations

from earlyexp.envs.toolcalls import ToolCall, ToolCallError, parse_calls

END_TURN = "end_turn"
USAGE = ("Write calls such as cd(folder='document'), several at once as "
         "[mkdir(dir_name='temp'), cd(folder='temp')], or end_turn to finish the request.")

# The shared types under the names this family's modules used before the parser was shared.
Call = ToolCall
ActionSyntaxError = ToolCallError


def parse_action(action: str) -> list[ToolCall] | None:
    """The calls of `action` in order, or None for `end_turn`.

    Raises:
        ToolCallError: the action is neither; the reason says why.
    """
    calls = parse_calls(action, bare_names={END_TURN})
    ends = [call for call in calls if call.name == END_TURN]
    if not ends:
        return calls
    if len(calls) > 1:
        raise ToolCallError("end_turn must be the whole action, not mixed with calls.", action)
    if ends[0].args or ends[0].kwargs:
        raise ToolCallError("end_turn takes no arguments: write end_turn or end_turn().", action)
    return None
