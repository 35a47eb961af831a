"""``ssmhub new-plugin``: a plugin distribution that installs and passes its tests as made.

A plugin is several names that must agree (distribution, entry point, package, model);
generating them from one name keeps them agreeing. With an ssm-simulators model the spec is
filled from its ``model_config``, so names, bounds and choices are the ones its simulator
expects; without one the plugin brings a small NumPy simulator to be replaced.
"""

from __future__ import annotations

import difflib
import importlib.metadata
import numbers
import re
import textwrap
from importlib.resources import files
from pathlib import Path
from string import Template
from typing import Any

from pydantic import ValidationError

from ssmhub.errors import SsmhubError
from ssmhub.spec import ModelSpec, Parameter

NAME_RULE = "lowercase letters, digits and underscores, starting with a letter"
_NAME = re.compile(r"[a-z][a-z0-9_]*")
_TEMPLATES = "templates/plugin"


class ScaffoldError(SsmhubError):
    """A plugin that cannot be made as asked."""


def check_name(name: str) -> None:
    """The plugin's name becomes the model's, the entry point's and the package's."""
    if not _NAME.fullmatch(name):
        raise ScaffoldError(
            f"plugin name {name!r}: must be {NAME_RULE} (it names the model, the entry point "
            f"and the package ssmhub_<name>)"
        )


def distribution_name(name: str) -> str:
    """The plugin's distribution: ``ssmhub-<name>``, underscores as dashes."""
    return f"ssmhub-{name.replace('_', '-')}"


def spec_from_ssms(name: str, model: str) -> tuple[ModelSpec, dict[str, str]]:
    """ssm-simulators' ``model`` as a spec called ``name``, with a note per parameter whose
    value had to differ from ``model_config`` (to show as a comment in the source)."""
    from ssms.config import model_config

    config = model_config.get(model)
    if config is None:
        close = difflib.get_close_matches(model, model_config, n=5, cutoff=0.0)
        raise ScaffoldError(
            f"--from-ssms: ssm-simulators {_ssms_version()} has no model {model!r}; the "
            f"closest names: {', '.join(close)}"
        )
    parameters, notes = [], {}
    for pname, default in zip(config["params"], config["default_params"], strict=True):
        lower, upper = config["param_bounds_dict"][pname]
        if not all(isinstance(x, numbers.Real) for x in (lower, upper, default)):
            raise ScaffoldError(
                f"--from-ssms {model}: parameter {pname!r} has bounds ({lower!r}, {upper!r}) "
                f"and default {default!r}; ssmhub needs fixed numbers"
            )
        if not lower <= default <= upper:
            notes[pname] = (
                f"ssm-simulators' default {default:g} lies outside the bounds, so the "
                "midpoint is used"
            )
            default = (lower + upper) / 2
        parameters.append(
            Parameter(name=pname, lower=float(lower), upper=float(upper), default=float(default))
        )
    choices = config.get("choices") or list(range(config["nchoices"]))
    try:
        spec = ModelSpec(
            name=name,
            description=f"The ssm-simulators model {model}.",
            parameters=tuple(parameters),
            # model_config has no field for it: ssm-simulators' simulators add the parameter
            # t, where there is one, to every decision time.
            non_decision_time="t" if "t" in config["params"] else None,
            choices=tuple(int(c) for c in choices),
            ssms_model=model,
        )
    except ValidationError as exc:
        raise ScaffoldError(f"--from-ssms {model}: not a valid ssmhub model: {exc}") from None
    return spec, notes


def render(name: str, ssms_model: str | None = None) -> dict[str, str]:
    """Every file of the plugin, by path relative to its folder."""
    check_name(name)
    # The distribution's name in its normalised form (PEP 503), as pip and PyPI show it.
    values: dict[str, Any] = {"name": name, "distribution": distribution_name(name)}
    if ssms_model is None:
        module = _template("own_simulator.py")
        values["dependencies"] = '"ssmhub", "numpy"'
        values["origin"] = "with its own simulator (NumPy)"
        values["evaluate"] = _NO_REFERENCE
    else:
        spec, notes = spec_from_ssms(name, ssms_model)
        module = _template("ssms_model.py")
        values |= {
            "dependencies": '"ssmhub"',
            "origin": f"simulated by ssm-simulators (its model `{ssms_model}`)",
            "ssms_model": ssms_model,
            "ssms_version": _ssms_version(),
            "parameters": "\n".join(
                _parameter_source(p, notes.get(p.name)) for p in spec.parameters
            ),
            "non_decision_time": _quoted(spec.non_decision_time)
            if spec.non_decision_time
            else "None",
            "choices": repr(spec.choices),
            "choice_meanings": f"({', '.join(_quoted(spec.meaning(c)) for c in spec.choices)})",
            "recipes": _recipes_source(spec, ssms_model),
            "evaluate": (
                _WITH_REFERENCE.format(name=name) if _solvable(ssms_model)[0] else _NO_REFERENCE
            ),
        }
    package = f"src/ssmhub_{name}"
    return {
        "pyproject.toml": _template("pyproject.toml").substitute(values),
        "README.md": _template("README.md").substitute(values),
        f"{package}/__init__.py": module.substitute(values),
        f"tests/test_{name}.py": _template("test_plugin.py").substitute(values),
    }


def new_plugin(name: str, directory: Path, ssms_model: str | None = None) -> Path:
    """Write the plugin ``ssmhub-<name>`` (`distribution_name`) into ``directory/name``;
    return that folder.

    Everything is rendered before anything is written, so a refused plugin leaves nothing
    behind; an existing folder, or a model of that name already installed, is refused.
    """
    from ssmhub.plugins import get_manager

    check_name(name)
    root = directory / name
    if root.exists():
        raise ScaffoldError(f"{root} already exists; choose another --dir or name")
    catalog = get_manager().catalog
    if name in catalog.specs or name in catalog.conflicts:
        raise ScaffoldError(
            f"a model named {name!r} is already installed; two plugins registering one name "
            "disable both, so choose another name"
        )
    rendered = render(name, ssms_model)
    for relative, text in rendered.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def _template(stem: str) -> Template:
    return Template((files("ssmhub") / _TEMPLATES / f"{stem}.tmpl").read_text())


def _ssms_version() -> str:
    return importlib.metadata.version("ssm-simulators")


def _quoted(text: str) -> str:
    """A string literal as ruff formats it (double quotes); identifiers and the meanings
    `ModelSpec.meaning` makes up need no escapes."""
    return f'"{text}"'


def _parameter_source(p: Parameter, note: str | None) -> str:
    fields = f'name="{p.name}", lower={p.lower!r}, upper={p.upper!r}, default={p.default!r}'
    line = f'        Parameter({fields}, description=""),'
    if len(line) > 100:
        line = f'        Parameter(\n            {fields}, description=""\n        ),'
    return f"        # {note}\n{line}" if note else line


# The README's word on `ssmhub evaluate`, which needs a reference likelihood.
_WITH_REFERENCE = (
    "`ssmhub evaluate runs/{name}-mnle` then measures the network against PyDDM's solution of "
    "the\nmodel and records its accuracy, which `ssmhub publish` requires."
)
_NO_REFERENCE = (
    "`ssmhub evaluate` measures a network against a reference likelihood, a closed form or "
    "PyDDM's\nsolution, and this model has neither: check its networks by parameter recovery "
    "instead\n(simulate data at known parameters, fit them, compare). `ssmhub publish` "
    "requires that\nmeasurement, so such networks ship inside the plugin."
)


def _solvable(ssms_model: str) -> tuple[bool, str]:
    from ssms.config import model_config
    from ssms.external_simulators.pyddm_mapper import SSMSToPyDDMMapper

    return SSMSToPyDDMMapper.is_compatible(model_config[ssms_model])


def _recipes_source(spec: ModelSpec, ssms_model: str) -> str:
    """An mnle recipe for every model (trained on raw simulations, any number of choices);
    LAN and CPN recipes beside it for a two-choice model, labelled by PyDDM where it solves
    the model, else by KDE."""
    why = [
        "The mnle network trains on raw simulated trials (n_simulations per parameter set). "
        "FILL IN: the sizes, after timing a few parameter sets, e.g. with `ssmhub generate "
        f"{spec.name} --kind mnle --parameter-sets 20`."
    ]
    recipes = ['Recipe(kind="mnle", estimator="simulation")']
    if len(spec.choices) == 2:
        solvable, reason = _solvable(ssms_model)
        estimator = "pyddm" if solvable else "kde"
        why.append(
            "LAN and CPN labels: PyDDM solves this model's Fokker-Planck equation, so they "
            "carry no KDE noise."
            if solvable
            else f"LAN and CPN labels: PyDDM cannot solve this model ({reason}), so they come "
            "from KDE over simulations."
        )
        recipes += [f'Recipe(kind="{kind}", estimator="{estimator}")' for kind in ("lan", "cpn")]
    else:
        why.append(
            f"No LAN or CPN: they represent two choices, and the model has {len(spec.choices)}."
        )
    comment = textwrap.fill(
        " ".join(why), width=92, initial_indent="    # ", subsequent_indent="    # "
    )
    one_line = f"    recipes=({', '.join(recipes)},),"  # as ruff formats it, where it fits
    if len(one_line) > 100:
        one_line = "    recipes=(" + "".join(f"\n        {r}," for r in recipes) + "\n    ),"
    return f"{comment}\n{one_line}"
