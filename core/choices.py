"""A vocabulary with sentences, without the database layer.

Django's ``TextChoices`` lives in ``django.db.models``, which a pure rules
module must not import (tests/test_architecture.py). ``LabelledEnum`` is the
same idea in plain Python: a ``StrEnum`` (a member equals, prints and
serialises as its value) whose members carry a ``label``, and whose class
offers ``choices``, ``values`` and ``labels`` as ``TextChoices`` does, so a
model field or a serializer builds its choices from it unchanged.
"""

import enum


class LabelledEnumType(enum.EnumType):
    @property
    def choices(cls) -> list[tuple[str, str]]:
        return [(member.value, member.label) for member in cls]

    @property
    def values(cls) -> list[str]:
        return [member.value for member in cls]

    @property
    def labels(cls) -> list[str]:
        return [member.label for member in cls]


class LabelledEnum(enum.StrEnum, metaclass=LabelledEnumType):
    """Members are written ``NAME = "value", "label"``."""

    label: str

    # A template resolving the class (not a member) must not call it.
    do_not_call_in_templates = enum.nonmember(True)

    def __new__(cls, value: str, label: str):
        member = str.__new__(cls, value)
        member._value_ = value
        member.label = label
        return member
