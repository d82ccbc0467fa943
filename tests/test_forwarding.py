"""Options travel by keyword and are typed: every keyword a bijective module passes to a
bijective class exists in that class's signature, no such call passes a long run of
positional arguments (a builder that forwards 14 options in order breaks silently when
one is inserted), and every option string of the catalogue is a Literal."""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
import typing

import pytest
from torch import nn

import bijective
from bijective.catalogue import MODELS
from bijective.models.posteriors import POSTERIORS, PosteriorName

POSITIONAL = 4  # shapes, features, masks, ... and at most a few more in order


def _calls():
    """(where, the class called, its keyword names, its positional count) for every call
    in the package whose callee is a bijective nn.Module class."""
    for info in pkgutil.walk_packages(bijective.__path__, "bijective."):
        if info.name.endswith("__main__"):  # runs the command line on import
            continue
        module = importlib.import_module(info.name)
        for node in ast.walk(ast.parse(inspect.getsource(module))):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name | ast.Attribute)):
                continue
            name = node.func.id if isinstance(node.func, ast.Name) else node.func.attr
            target = getattr(module, name, None)
            if not (inspect.isclass(target) and issubclass(target, nn.Module)):
                continue
            if not target.__module__.startswith("bijective"):
                continue
            keywords = [k.arg for k in node.keywords if k.arg is not None]
            yield f"{info.name}:{node.lineno}", target, keywords, len(node.args)


CALLS = list(_calls())


def test_the_scan_finds_the_builders_calls():
    assert len(CALLS) > 50
    assert any(t.__name__ == "ContinuousFlow" and len(k) > 10 for _, t, k, _ in CALLS)


def test_every_forwarded_keyword_exists_in_the_receiving_signature():
    for where, target, keywords, _ in CALLS:
        parameters = inspect.signature(target.__init__).parameters
        if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
            continue
        missing = set(keywords) - set(parameters)
        assert not missing, f"{where}: {target.__name__} has no {sorted(missing)}"


def test_no_call_forwards_a_long_run_of_positional_options():
    long = [f"{w}: {t.__name__} ({n})" for w, t, _, n in CALLS if n > POSITIONAL]
    assert not long, long


@pytest.mark.parametrize("name", list(MODELS))
def test_every_option_string_of_the_catalogue_is_a_literal(name):
    for option, hint in MODELS[name].hints().items():
        assert hint is not str, f"{name}.{option} is a plain str: make it a Literal"


def test_the_posterior_names_are_the_posteriors():
    assert set(typing.get_args(PosteriorName)) == set(POSTERIORS)
