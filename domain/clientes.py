"""A client's fields: the one copy of their rules, used by the API's request
model (app/schemas.py builds its constraints from these) and by the CSV import
(core/clientes.py), so a field accepted by one is accepted by the other."""

from __future__ import annotations

import re
from typing import Any

from domain.errors import ValidationFailed

#: field -> longest value (characters); the columns of core.models.Cliente
LIMITS = {"nombre": 160, "telefono": 32, "email": 160, "documento": 32, "notas": 5000}
REQUIRED = ("nombre", "telefono")
FIELDS = tuple(LIMITS)
#: digits and + - ( ) . and spaces, with at least one digit
PHONE_PATTERN = r"^[0-9+\-(). ]*[0-9][0-9+\-(). ]*$"
#: an address has an @ (it is for people to read, not for sending mail)
EMAIL_PATTERN = "@"
_PHONE = re.compile(PHONE_PATTERN)
_EMAIL = re.compile(EMAIL_PATTERN)


def clean_fields(row: dict[str, Any]) -> dict[str, Any]:
    """Validated and trimmed client fields; raises ValidationFailed naming the field."""
    out: dict[str, Any] = {}
    for name, limit in LIMITS.items():
        value = row.get(name)
        if value is None or (isinstance(value, str) and not value.strip()):
            if name in REQUIRED:
                raise ValidationFailed(f"{name} is required", field=name)
            out[name] = None
            continue
        if not isinstance(value, str):
            raise ValidationFailed(f"{name} must be a string", field=name)
        if "\x00" in value:
            raise ValidationFailed(f"{name} contains a NUL byte", field=name)
        value = value.strip()
        if len(value) > limit:
            raise ValidationFailed(f"{name} is longer than {limit} characters", field=name)
        out[name] = value
    if not _PHONE.match(out["telefono"]):
        raise ValidationFailed("telefono must be a phone number", field="telefono")
    if out["email"] is not None and not _EMAIL.search(out["email"]):
        raise ValidationFailed("email is not an address", field="email")
    return out


#: A spreadsheet reads a cell starting with one of these as a formula (CSV
#: injection: `=HYPERLINK(...)`, `@SUM(...)`, `+cmd|...`).
FORMULA_LEADS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(value: str | None) -> str | None:
    """A field as it must be written to any CSV or spreadsheet export.

    The choice: values are stored as typed (a phone `+51 987 654 321` and a
    note `- called twice` legitimately start with `+` or `-`; refusing them
    would refuse real data, and the API returns JSON, which no spreadsheet
    evaluates), and every export neutralises them here: a value whose first
    character is a formula lead gets a leading `'`, which spreadsheets show
    as text and do not evaluate."""
    if value and value.startswith(FORMULA_LEADS):
        return "'" + value
    return value
