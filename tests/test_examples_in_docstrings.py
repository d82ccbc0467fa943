"""Every public class of bj.flows, bj.models and bj.transforms has a Google-style docstring:
an `Example:` that runs as written (doctest), and `Args:` naming exactly the parameters of
its constructor, in order."""

from __future__ import annotations

import doctest
import importlib
import inspect
import pkgutil
import re

import pytest
import torch

import bijective as bj

PACKAGES = (bj.flows, bj.models, bj.transforms)
MODULES = [
    importlib.import_module(info.name)
    for package in PACKAGES
    for info in pkgutil.iter_modules(package.__path__, package.__name__ + ".")
]


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.__name__)
def test_the_examples_run(module) -> None:
    torch.manual_seed(0)
    failed, _ = doctest.testmod(module, optionflags=doctest.ELLIPSIS, raise_on_error=False)
    assert failed == 0


CLASSES = [
    (package.__name__, name)
    for package in PACKAGES
    for name in package.__all__
    if inspect.isclass(getattr(package, name))
]


@pytest.mark.parametrize(("package", "name"), CLASSES, ids=lambda v: v.split(".")[-1])
def test_every_class_has_an_example(package: str, name: str) -> None:
    doc = getattr(importlib.import_module(package), name).__doc__ or ""
    assert "\n    Example:\n" in doc and ">>> " in doc, name


@pytest.mark.parametrize(("package", "name"), CLASSES, ids=lambda v: v.split(".")[-1])
def test_args_name_the_constructor_parameters(package: str, name: str) -> None:
    cls = getattr(importlib.import_module(package), name)
    parameters = [
        ("*" if p.kind is p.VAR_POSITIONAL else "") + p.name
        for p in list(inspect.signature(cls.__init__).parameters.values())[1:]
    ]
    if parameters in ([], ["*args", "kwargs"]):  # no constructor of its own
        assert "Args:" not in (cls.__doc__ or ""), name
        return
    section = (cls.__doc__ or "").partition("\n    Args:\n")[2].partition("\n\n")[0]
    assert re.findall(r"^        (\*?\w+):", section, re.M) == parameters, name
