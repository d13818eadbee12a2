"""One ScienceWorld simulator: a JVM running the `scienceworld` package's jar, driven over py4j.

The package's own `ScienceWorldEnv.step()` asks the JVM for the observation,
the score, the completion flag, `look`, `inventory`, the task description and
the full valid-action list (hundreds to thousands of strings) on every step.
`Simulator` talks to the same `PythonInterface` server object but only asks
for what is needed: `step()` returns the observation, score and completion
(three round trips); everything else is a separate call made on demand.

The JVM is launched here rather than through `ScienceWorldEnv` for two reasons:
it needs JVM options (see `DETERMINISM_JAVA_OPTS`), and a dead JVM must be
recognised as such (`SimulatorDiedError`) so that the env can start a new one.
"""
from __future__ import annotations

import os
import shutil
import zlib
from dataclasses import dataclass

from py4j.java_gateway import GatewayParameters, JavaGateway, launch_gateway
from py4j.protocol import Py4JError, Py4JJavaError
from scienceworld.constants import BASEPATH, JAR_PATH

from earlyexp.errors import EarlyExpError, EnvCrashedError

# Object listings ("In it, you see: ...") follow hash-set order, and the JVM's
# default identity hash codes are random, so the same action sequence printed
# objects in a different order from one load to the next (measured on 8 of the
# 30 tasks). A constant identity hash makes every hash-set iterate in insertion
# order, so a task replays to the same text: the replay-based snapshot needs it.
DETERMINISM_JAVA_OPTS = ("-XX:+UnlockExperimentalVMOptions", "-XX:hashCode=2")
# For many JVMs side by side (the gold-path verification pool): each sizes its GC and
# JIT threads for one core instead of all of them. Output does not depend on these.
ONE_CORE_JAVA_OPTS = ("-XX:ActiveProcessorCount=1", "-XX:+UseSerialGC")
INVALID_ACTION_REPLY = "No known action matches that input."
# The reply to anything but a number while an "Ambiguous request" waits for one.
UNKNOWN_ACTION_REPLY = "Unknown action."
JAVA_INSTALL_HINT = (
    "ScienceWorld runs inside a Java virtual machine (Java 1.8 or newer). Install one, e.g. "
    "`sudo apt-get install openjdk-17-jre-headless` (Debian/Ubuntu), "
    "`brew install openjdk@17` (macOS) or `conda install -c conda-forge openjdk=17`, "
    "then put `java` on PATH or set JAVA_HOME."
)


class JavaNotFoundError(EarlyExpError, RuntimeError):
    """Raised when no `java` executable can be found to run the ScienceWorld simulator."""

    def __init__(self, searched: list[str]):
        self.searched = searched
        super().__init__(f"No Java runtime found (looked at: {', '.join(searched)}). "
                         f"{JAVA_INSTALL_HINT}")


class SimulatorDiedError(EnvCrashedError):
    """Raised when the JVM behind a `Simulator` has exited or stopped answering."""

    def __init__(self, reason: str):
        self.reason = reason
        super().__init__(f"The ScienceWorld JVM died: {reason}")


@dataclass(frozen=True)
class EngineStep:
    """What one engine step returned. `raw_score` is ScienceWorld's score in [-1, 1]."""

    observation: str
    raw_score: float
    completed: bool

    @property
    def valid(self) -> bool:
        reply = self.observation.strip()
        return reply != INVALID_ACTION_REPLY and not reply.startswith(UNKNOWN_ACTION_REPLY)


def unsendable(action: str) -> str | None:
    """Why `action` cannot be sent to the simulator, or None if it can.

    py4j encodes every string as UTF-8 on its socket: a lone surrogate (``"\\ud800"``)
    fails to encode *after* the command has started, py4j logs an ERROR traceback and the
    connection looks dead. NUL and the other C0 control characters do cross, but no
    ScienceWorld command contains one, so they are refused here too (one rule, one reply).
    """
    for position, char in enumerate(action):
        code = ord(char)
        if 0xD800 <= code <= 0xDFFF:
            return (f"it contains U+{code:04X} at position {position}, a lone surrogate that "
                    "is not text and cannot be sent to the simulator")
        if code < 0x20 and char not in "\t\n":
            return (f"it contains the control character U+{code:04X} at position {position}; "
                    "ScienceWorld commands are plain text")
    return None


def find_java() -> str:
    """Path of the `java` executable (JAVA_HOME first, then PATH)."""
    searched = []
    java_home = os.environ.get("JAVA_HOME")
    if java_home:
        candidate = os.path.join(java_home, "bin", "java")
        searched.append(candidate)
        if os.access(candidate, os.X_OK):
            return candidate
    searched.append("java on PATH")
    found = shutil.which("java")
    if found is None:
        raise JavaNotFoundError(searched)
    return found


def task_rng_seed(task_name: str, variation: int) -> int:
    """Seed of the JVM's global RNG for one task variation (stable across runs and machines)."""
    return zlib.crc32(f"{task_name}/{variation}".encode())


class Simulator:
    """One JVM running ScienceWorld. Not thread-safe: one caller at a time."""

    def __init__(self, java: str | None = None, extra_java_opts: tuple[str, ...] = ()):
        java = java or find_java()
        try:
            port, self._process = launch_gateway(
                classpath=JAR_PATH, javaopts=[*DETERMINISM_JAVA_OPTS, *extra_java_opts],
                die_on_exit=True,
                cwd=BASEPATH, java_path=java, return_proc=True)
        except (OSError, Py4JError) as error:
            raise SimulatorDiedError(f"the JVM could not be started ({error})") from error
        self._gateway = JavaGateway(
            gateway_parameters=GatewayParameters(auto_field=True, port=port),
            java_process=self._process)
        jvm = self._gateway.jvm
        self._server = jvm.scienceworld.runtime.pythonapi.PythonInterface()
        # Some tasks (genetics, wandering animals, bees) draw from Scala's global RNG.
        self._rng = jvm.java.lang.Class.forName("scala.util.Random$").getField("MODULE$").get(None)
        #: How many task loads this JVM has done (callers use it to see whether it moved).
        self.load_count = 0

    # ------------------------------------------------------------ lifecycle
    @property
    def pid(self) -> int:
        return self._process.pid

    @property
    def alive(self) -> bool:
        return self._process.poll() is None

    def close(self) -> None:
        try:
            self._gateway.shutdown()
        except Exception:  # noqa: BLE001 - a dead JVM cannot refuse to be shut down
            pass
        if self._process.poll() is None:
            self._process.kill()
            self._process.wait(timeout=10)

    # ------------------------------------------------------------ engine calls
    def load(self, task_name: str, variation: int, gold_path: bool = False) -> list[str] | None:
        """Load a task variation from scratch; with `gold_path`, return its gold action sequence."""
        self._call(self._rng.setSeed, task_rng_seed(task_name, variation))
        self._call(self._server.load, task_name, variation, "", gold_path)
        self.load_count += 1
        return list(self._call(self._server.getGoldActionSequence)) if gold_path else None

    def step(self, action: str) -> EngineStep:
        problem = unsendable(action)
        if problem is not None:  # py4j would fail mid-command and leave the bridge broken
            raise ValueError(f"Cannot send {action[:40]!r} to ScienceWorld: {problem}")
        observation = self._call(self._server.step, action)
        return EngineStep(str(observation), float(self.raw_score()), bool(self.completed()))

    def advance(self, actions: list[str] | tuple[str, ...]) -> str:
        """Execute `actions` without reading scores in between; return the last observation."""
        observation = ""
        for action in actions:
            observation = str(self._call(self._server.step, action))
        return observation

    def raw_score(self) -> float:
        return float(self._call(self._server.getScore))

    def completed(self) -> bool:
        return bool(self._call(self._server.getCompleted))

    def look(self) -> str:
        return str(self._call(self._server.freeActionLook))

    def task_description(self) -> str:
        return str(self._call(self._server.getTaskDescription))

    def valid_actions(self) -> list[str]:
        return [str(a) for a in self._call(self._server.getValidActionObjectCombinations)]

    def task_names(self) -> list[str]:
        return [str(t) for t in self._call(self._server.getTaskNames)]

    def variations(self, task_name: str) -> dict[str, list[int]]:
        """The package's own train/dev/test variation indices of `task_name`."""
        self.load(task_name, 0)
        return {
            "train": [int(v) for v in self._call(self._server.getVariationsTrain)],
            "dev": [int(v) for v in self._call(self._server.getVariationsDev)],
            "test": [int(v) for v in self._call(self._server.getVariationsTest)],
        }

    def _call(self, method, *args):
        try:
            return method(*args)
        except Py4JJavaError:
            raise  # the simulator threw for this input; the JVM itself is fine
        except (Py4JError, OSError) as error:
            if not self.alive:
                raise SimulatorDiedError(
                    f"the JVM process {self.pid} exited with code {self._process.poll()}"
                ) from error
            raise SimulatorDiedError(f"the JVM stopped answering ({error})") from error
