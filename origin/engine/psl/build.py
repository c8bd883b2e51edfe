"""Declarations → the schema model: types resolved, attributes applied, relations linked."""

from __future__ import annotations

from typing import Any

from ..schema import (
    SCALAR_TYPES,
    Default,
    Enum,
    EnumValue,
    Model,
    RelationField,
    ScalarField,
    Schema,
    SchemaModelError,
)
from .errors import SchemaError
from .parser import Arg, Attribute, Block, Call, FieldDecl, Ident

_DEFAULT_NATIVE = {"DateTime": "timestamp", "Decimal": "numeric", "Json": "jsonb", "Bytes": "bytea"}
_REFERENTIAL_ACTIONS = ("Cascade", "Restrict", "NoAction", "SetNull", "SetDefault")
_FIELD_ATTRIBUTES = ("id", "unique", "default", "updatedAt", "map", "relation", "ignore", "db")


def _fail(message: str, at: Attribute | FieldDecl | Block | Arg) -> SchemaError:
    return SchemaError(message, at.line, at.column)


def _string(arg: Arg | None, what: str, at: Attribute) -> str:
    if arg is None or not isinstance(arg.value, str):
        raise _fail(f"{what} must be a string", arg or at)
    return arg.value


def _names(arg: Arg | None, what: str, at: Attribute) -> tuple[str, ...]:
    if arg is None or not isinstance(arg.value, list) or not arg.value:
        raise _fail(f"{what} must be a non-empty list of field names", arg or at)
    names = []
    for item in arg.value:
        # `@@index([title(ops: raw("..."))])`-style calls carry the field name as their function name.
        if isinstance(item, Call):
            names.append(item.name)
        elif isinstance(item, Ident):
            names.append(item.name)
        else:
            raise _fail(f"{what} must list field names", arg)
    return tuple(names)


def build(blocks: list[Block]) -> Schema:
    """The schema model of parsed declarations; raises SchemaError with a position on any mistake."""
    schema = Schema()
    seen: dict[str, Block] = {}
    for block in blocks:
        if block.kind in ("model", "enum", "view", "type"):
            if block.name in seen:
                raise _fail(f"`{block.name}` is defined twice", block)
            seen[block.name] = block
    for block in blocks:
        if block.kind == "datasource":
            _check_datasource(block)
        elif block.kind == "type":
            raise _fail("composite types (`type`) are only available on MongoDB", block)
        elif block.kind == "enum":
            schema.enums[block.name] = _enum(block)
    for block in blocks:
        if block.kind in ("model", "view") and not any(a.name == "ignore" for a in block.attributes):
            schema.models[block.name] = _model(block, schema, seen)
    for block in blocks:
        if block.kind in ("model", "view") and block.name in schema.models:
            _relations(block, schema)
    for block in blocks:
        if block.kind in ("model", "view") and block.name in schema.models:
            _check_many_to_many(block, schema)
    try:
        schema.finish()
    except SchemaModelError as exc:
        raise SchemaError(str(exc), 1, 1) from None
    return schema


def _check_datasource(block: Block) -> None:
    provider = block.settings.get("provider")
    if provider is not None and provider.value not in ("postgresql", "postgres"):
        raise _fail(f"Breakwater serves PostgreSQL; this schema's provider is {provider.value!r}", provider)


def _enum(block: Block) -> Enum:
    enum = Enum(block.name, block.name)
    for attr in block.attributes:
        if attr.name == "map":
            enum.db_name = _string(attr.arg("name"), "@@map", attr)
        elif attr.name != "schema":
            raise _fail(f"unknown enum attribute @@{attr.name}", attr)
    names = set()
    for name, attrs, line, column in block.values:
        if name in names:
            raise SchemaError(f"enum value `{name}` is defined twice", line, column)
        names.add(name)
        db_name = name
        for attr in attrs:
            if attr.name == "map":
                db_name = _string(attr.arg("name"), "@map", attr)
            else:
                raise _fail(f"unknown enum value attribute @{attr.name}", attr)
        enum.values.append(EnumValue(name, db_name))
    if not enum.values:
        raise _fail(f"enum `{block.name}` has no values", block)
    return enum


def _model(block: Block, schema: Schema, seen: dict[str, Block]) -> Model:
    model = Model(block.name, block.name)
    names: set[str] = set()
    for decl in block.fields:
        if decl.name in names:
            raise _fail(f"field `{decl.name}` is defined twice in `{block.name}`", decl)
        names.add(decl.name)
        for attr in decl.attributes:
            if attr.name.split(".")[0] not in _FIELD_ATTRIBUTES:
                raise _fail(f"unknown field attribute @{attr.name}", attr)
        if any(a.name == "ignore" for a in decl.attributes):
            continue
        target = seen.get(decl.type)
        if target is not None and target.kind in ("model", "view"):
            continue  # relation fields are resolved once every model exists
        if decl.unsupported:
            continue  # Unsupported("...") columns are not queryable through Prisma either
        if decl.type not in SCALAR_TYPES and decl.type not in schema.enums:
            raise _fail(f"unknown type `{decl.type}` for field `{decl.name}`", decl)
        model.fields[decl.name] = _scalar(decl, schema)
    for f in model.fields.values():
        if f.is_id:
            model.primary_key = (f.name,)
    for attr in block.attributes:
        if attr.name == "map":
            model.table = _string(attr.arg("name"), "@@map", attr)
        elif attr.name == "schema":
            model.schema = _string(attr.arg("name"), "@@schema", attr)
        elif attr.name in ("id", "unique"):
            fields = _names(attr.arg("fields"), f"@@{attr.name}", attr)
            for name in fields:
                if name not in model.fields:
                    raise _fail(f"@@{attr.name} names `{name}`, which is not a scalar field", attr)
            key_name = attr.arg("name", position=None)
            if attr.name == "id":
                if model.primary_key:
                    raise _fail(f"model `{model.name}` has more than one id", attr)
                model.primary_key = fields
                if key_name is not None:
                    model.primary_key_name = _string(key_name, "name", attr)
            else:
                if fields not in model.unique_sets:
                    model.unique_sets.append(fields)
                if key_name is not None:
                    model.unique_names[fields] = _string(key_name, "name", attr)
        elif attr.name not in ("index", "fulltext", "ignore"):
            raise _fail(f"unknown model attribute @@{attr.name}", attr)
    for f in model.fields.values():
        if f.is_unique and (f.name,) not in model.unique_sets:
            model.unique_sets.append((f.name,))
    return model


def _scalar(decl: FieldDecl, schema: Schema) -> ScalarField:
    is_enum = decl.type in schema.enums
    column = decl.name
    is_id = is_unique = updated_at = False
    default: Default | None = None
    native = None if is_enum else _DEFAULT_NATIVE.get(decl.type)
    for attr in decl.attributes:
        if attr.name == "id":
            if decl.optional or decl.is_list:
                raise _fail("an @id field must be required and not a list", attr)
            is_id = True
        elif attr.name == "unique":
            is_unique = True
        elif attr.name == "map":
            column = _string(attr.arg("name"), "@map", attr)
        elif attr.name == "updatedAt":
            if decl.type != "DateTime":
                raise _fail("@updatedAt is only valid on DateTime fields", attr)
            updated_at = True
        elif attr.name == "default":
            default = _default(attr, decl, schema)
        elif attr.name.startswith("db."):
            native = attr.name[3:].lower()
        elif attr.name == "relation":
            raise _fail(f"@relation on `{decl.name}`, which is not a relation field", attr)
    return ScalarField(
        name=decl.name,
        column=column,
        type=decl.type,
        required=not decl.optional,
        is_list=decl.is_list,
        is_id=is_id,
        is_unique=is_unique or is_id,
        default=default,
        updated_at=updated_at,
        native_type=native,
        is_enum=is_enum,
    )


def _default(attr: Attribute, decl: FieldDecl, schema: Schema) -> Default:
    arg = attr.arg("value")
    if arg is None:
        raise _fail("@default needs a value", attr)
    value = arg.value
    if isinstance(value, Call):
        name = value.name
        if name == "autoincrement" or name == "sequence":
            if decl.type not in ("Int", "BigInt"):
                raise _fail(f"{name}() is only valid on Int and BigInt fields", arg)
            return Default("autoincrement")
        if name == "now":
            if decl.type != "DateTime":
                raise _fail("now() is only valid on DateTime fields", arg)
            return Default("now")
        if name in ("uuid", "cuid", "nanoid", "ulid"):
            if decl.type != "String":
                raise _fail(f"{name}() is only valid on String fields", arg)
            version = value.args[0].value if value.args else None
            if version is not None and not isinstance(version, int):
                raise _fail(f"{name}() takes a number", arg)
            return Default(name, version=version)
        if name == "dbgenerated":
            return Default("dbgenerated", value.args[0].value if value.args else None)
        if name == "auto":
            raise _fail("auto() is only available on MongoDB", arg)
        raise _fail(f"unknown default function {name}()", arg)
    return Default("value", _literal(value, decl, schema, arg))


def _literal(value: Any, decl: FieldDecl, schema: Schema, arg: Arg) -> Any:
    if decl.is_list:
        if not isinstance(value, list):
            raise _fail("the default of a list field must be a list", arg)
        single = FieldDecl(decl.name, decl.type, False, False, False, [], decl.line, decl.column)
        return [_literal(v, single, schema, arg) for v in value]
    kind = decl.type
    if kind in schema.enums:
        if not isinstance(value, Ident) or value.name not in schema.enums[kind].names():
            raise _fail(f"the default must be one of the values of enum {kind}", arg)
        return value.name
    ok = {
        "String": isinstance(value, str),
        "Int": isinstance(value, int) and not isinstance(value, bool),
        "BigInt": isinstance(value, int) and not isinstance(value, bool),
        "Float": isinstance(value, int | float) and not isinstance(value, bool),
        "Decimal": isinstance(value, int | float | str) and not isinstance(value, bool),
        "Boolean": isinstance(value, bool),
        "DateTime": isinstance(value, str),
        "Json": isinstance(value, str),
        "Bytes": isinstance(value, str),
    }.get(kind, False)
    if not ok:
        raise _fail(f"the default value does not fit the type {kind}", arg)
    return value


def _relations(block: Block, schema: Schema) -> None:
    model = schema.models[block.name]
    for decl in block.fields:
        if decl.type not in schema.models or any(a.name == "ignore" for a in decl.attributes):
            continue
        relation = next((a for a in decl.attributes if a.name == "relation"), None)
        name = ""
        fields: tuple[str, ...] = ()
        references: tuple[str, ...] = ()
        on_delete = on_update = None
        if relation is not None:
            name_arg = relation.arg("name")
            if name_arg is not None:
                name = _string(name_arg, "the relation name", relation)
            if relation.arg("fields", None) is not None:
                fields = _names(relation.arg("fields", None), "fields", relation)
                references = _names(relation.arg("references", None), "references", relation)
                for f in fields:
                    if f not in model.fields:
                        raise _fail(f"@relation fields names `{f}`, which is not a scalar field", relation)
                target = schema.models[decl.type]
                for r in references:
                    if r not in target.fields:
                        raise _fail(
                            f"@relation references `{r}`, which is not a field of {target.name}", relation
                        )
            on_delete = _action(relation.arg("onDelete", None), relation)
            on_update = _action(relation.arg("onUpdate", None), relation)
        if not name:
            name = "To".join(sorted([model.name, decl.type]))
        required = not decl.optional and not decl.is_list
        if fields and decl.optional is False and not decl.is_list:
            required = all(model.fields[f].required for f in fields)
        model.relations[decl.name] = RelationField(
            name=decl.name,
            target=decl.type,
            relation_name=name,
            is_list=decl.is_list,
            required=required,
            fields=fields,
            references=references,
            on_delete=on_delete,
            on_update=on_update,
        )


def _check_many_to_many(block: Block, schema: Schema) -> None:
    """An implicit many-to-many's join table holds one id column per side: a model without a
    single-field @id (a composite @@id, or none) cannot be in one. Prisma's schema validation
    refuses it at the field that references such a model, in these words."""
    model = schema.models[block.name]
    for decl in block.fields:
        rel = model.relations.get(decl.name)
        if rel is None or not rel.is_list or rel.fields:
            continue
        target = schema.models[rel.target]
        backs = [
            r
            for r in target.relations.values()
            if r.relation_name == rel.relation_name and r.target == model.name and r is not rel
        ]
        if any(not r.is_list or r.fields for r in backs):
            continue
        if len(target.primary_key) != 1:
            raise _fail(
                f"Error validating field `{decl.name}` in model `{model.name}`: The relation field "
                f"`{decl.name}` on model `{model.name}` references `{target.name}` which does not have an "
                "`@id` field. Models without `@id` cannot be part of a many to many relation. Use an "
                "explicit intermediate Model to represent this relationship.",
                decl,
            )


def _action(arg: Arg | None, at: Attribute) -> str | None:
    if arg is None:
        return None
    if not isinstance(arg.value, Ident) or arg.value.name not in _REFERENTIAL_ACTIONS:
        raise _fail(f"a referential action is one of {', '.join(_REFERENTIAL_ACTIONS)}", arg)
    return arg.value.name
