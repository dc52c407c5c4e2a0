"""Pure rules of the reseller tree."""

from collections.abc import Iterable, Mapping


def tree_paths(parents: Mapping[int, int | None]) -> dict[int, str]:
    """Materialised paths ("/1/7/") for resellers given as {pk: parent_pk}.

    Raises ValueError naming a reseller whose parent chain loops or leads to
    an unknown reseller.
    """
    paths: dict[int, str] = {}

    def path_of(pk: int, seen: tuple[int, ...]) -> str:
        if pk in paths:
            return paths[pk]
        if pk in seen:
            raise ValueError(f"reseller {pk} is its own ancestor")
        parent = parents[pk]
        if parent is None:
            result = f"/{pk}/"
        elif parent not in parents:
            raise ValueError(f"reseller {pk} has an unknown parent {parent}")
        else:
            result = f"{path_of(parent, (*seen, pk))}{pk}/"
        paths[pk] = result
        return result

    for pk in parents:
        path_of(pk, ())
    return paths


def path_ids(path: str) -> list[int]:
    return [int(part) for part in path.strip("/").split("/") if part]


def auto_renew_forbidden(paths: Mapping[int, str], forbidding: Iterable[int]) -> set[int]:
    """Resellers under which auto-renew is forbidden: a reseller's
    ``allow_auto_renew = false`` applies to its whole subtree (SPEC)."""
    forbidding = set(forbidding)
    return {pk for pk, path in paths.items() if forbidding.intersection(path_ids(path))}


def invoice_prefix_for(ref: str, taken: Iterable[str] = ()) -> str:
    """A default invoice prefix, unique among ``taken``: the reseller's ref in
    upper-case letters and digits ("acme-west" -> "ACMEWEST"), with a number
    added if another reseller has it already."""
    base = "".join(ch for ch in ref.upper() if ch.isascii() and ch.isalnum())[:10] or "INV"
    taken = set(taken)
    prefix, n = base, 1
    while prefix in taken:
        n += 1
        prefix = f"{base}{n}"
    return prefix


def own_account_problem(
    *,
    owner_ref: str,
    parent_id: int | None,
    parent_ref: str = "",
    seller_id: int,
    seller_ref: str,
    held_ref: str = "",
) -> str:
    """Why a customer account sold by reseller ``seller`` cannot be the own
    account of reseller ``owner`` (whose parent is ``parent``), "" when it
    can (SPEC "Resellers are customers too"). ``held_ref``: the own account
    ``owner`` already has, another one. The account is held with the reseller
    above the owner, never the platform: the platform sells through no
    reseller of its own (yet), so a top-level reseller has no own account."""
    if parent_id is None:
        return (
            f"reseller {owner_ref} is at the top of the tree: its own account would be held with the platform, "
            "which sells through resellers only; a reseller's own account is held with the reseller above it"
        )
    if seller_id != parent_id:
        return (
            f"the own account of reseller {owner_ref} is held with the reseller above it ({parent_ref}), "
            f"not with {seller_ref}"
        )
    if held_ref:
        return f"reseller {owner_ref} already has its own account ({held_ref}): a reseller has one"
    return ""


# Dunning (SPEC "Beyond the peers"): the days before expiry a retry policy
# may name; a year and a day covers the longest attempt window a plan sets.
RETRY_DAY_MAX = 366
RETRY_DAYS_EXAMPLE = "null (every night) or a list of days before expiry such as [7, 3, 1, 0]"


def _day_problem(value, what: str) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= RETRY_DAY_MAX:
        return f"{what} {value!r} is not a whole number of days from 0 to {RETRY_DAY_MAX}"
    return None


def retry_policy_problem(retry_days, last_chance_day) -> str | None:
    """What is wrong with a retry policy, as a sentence, or None. The one
    check of every door (admin, panel, importer, the platform's setting) and
    of the nightly run, which fails only the accounts under a bad one.

    ``retry_days``: None (every night of the window) or a non-empty list of
    distinct days before expiry; ``last_chance_day``: the days before expiry
    of the night whose failure sends the last-chance notice."""
    if retry_days is not None:
        if not isinstance(retry_days, list | tuple) or not retry_days:
            return f"retry_days must be {RETRY_DAYS_EXAMPLE}, not {retry_days!r}"
        for day in retry_days:
            problem = _day_problem(day, "retry_days: the day")
            if problem:
                return problem
        if len(set(retry_days)) != len(retry_days):
            return f"retry_days: {list(retry_days)!r} names a day twice"
    return _day_problem(last_chance_day, "last_chance_day:")


def retry_days_normal(retry_days) -> list[int] | None:
    """A valid ``retry_days`` as stored and exported: the days from the
    furthest to the expiry day (the same policy reads the same everywhere)."""
    return None if retry_days is None else sorted(retry_days, reverse=True)


def retry_days_parse(text: str) -> list[int] | None:
    """``retry_days`` from a comma-separated text ("7,3,1,0"; empty: every
    night), as the platform's setting and the panel's form give it. Raises
    ValueError with a sentence saying what is wrong."""
    text = (text or "").strip()
    if not text:
        return None
    days = []
    for part in text.split(","):
        part = part.strip()
        if not part.isdigit():
            raise ValueError(f"retry days: {part!r} is not a whole number of days (write them like 7,3,1,0)")
        days.append(int(part))
    problem = retry_policy_problem(days, 0)
    if problem:
        raise ValueError(problem)
    return retry_days_normal(days)
