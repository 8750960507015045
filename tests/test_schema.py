"""The schema contract: validation names the column and never echoes cell values."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from privhealth.data.schema import Column, Kind, Role, TableSchema
from privhealth.errors import SchemaError

SCHEMA = TableSchema.from_dict(
    {
        "pid": {"role": "entity", "kind": "integer", "nullable": False},
        "name": {"role": "direct", "kind": "string", "pii": "name"},
        "age": {"role": "quasi", "kind": "numeric", "nullable": False},
        "sex": {"role": "quasi", "kind": "binary"},
        "dx": {"role": "sensitive", "kind": "categorical"},
        "died": {"role": "target", "kind": "binary"},
    }
)


def good() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "pid": [1, 2, 3],
            "name": ["Ann Lee", "Bo Chan", None],
            "age": [30.5, 41, 77],
            "sex": [0, 1, 1],
            "dx": ["flu", "flu", "copd"],
            "died": [0, 0, 1],
        }
    )


def test_roles_are_listed_in_schema_order():
    assert SCHEMA.quasi == ["age", "sex"]
    assert SCHEMA.entity == "pid"
    assert SCHEMA.target == "died"
    assert SCHEMA.direct == ["name"]


def test_validate_coerces_types():
    out = SCHEMA.validate(good())
    assert out["pid"].dtype == np.int64
    assert out["age"].dtype == np.float64
    assert isinstance(out["dx"].dtype, pd.CategoricalDtype)
    assert out["name"].isna().sum() == 1


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda d: d.drop(columns="age"), "missing column(s) 'age'"),
        (lambda d: d.assign(extra=1), "unexpected column(s) 'extra'"),
        (lambda d: d.iloc[:0], "no data rows"),
        (lambda d: d.assign(age=["x", 2, 3]), "column 'age' (numeric) has 1 non-numeric"),
        (lambda d: d.assign(age=[np.inf, 2, 3]), "column 'age' has 1 infinite"),
        (lambda d: d.assign(sex=[0, 2, 1]), "column 'sex' is binary"),
        (lambda d: d.assign(pid=[1.5, 2, 3]), "column 'pid' is integer but has non-integral"),
        (lambda d: d.assign(age=[None, 2, 3]), "column 'age' must not be empty"),
    ],
)
def test_bad_input_names_the_column(mutate, message):
    with pytest.raises(SchemaError) as err:
        SCHEMA.validate(mutate(good()), source="t.csv")
    assert message in str(err.value)
    assert "t.csv" in str(err.value)


def test_errors_do_not_echo_cell_values():
    df = good().assign(age=["Ann Lee secret", 2, 3])
    with pytest.raises(SchemaError) as err:
        SCHEMA.validate(df)
    assert "secret" not in str(err.value)


def test_duplicate_columns_rejected():
    df = pd.concat([good(), good()[["age"]]], axis=1)
    with pytest.raises(SchemaError, match="duplicate column name"):
        SCHEMA.validate(df)


def test_schema_declaration_errors():
    with pytest.raises(SchemaError, match="unknown role 'boss'"):
        Column("x", "boss", "numeric")
    with pytest.raises(SchemaError, match="more than once"):
        TableSchema((Column("x", Role.QUASI, Kind.NUMERIC), Column("x", Role.QUASI, Kind.NUMERIC)))
    with pytest.raises(SchemaError, match="lacks 'kind'"):
        TableSchema.from_dict({"x": {"role": "quasi"}})
