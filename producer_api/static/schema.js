// A small JSON Schema check of a payload before it is sent, for what pydantic's schemas use: type, enum,
// const, required, properties, additionalProperties, items, bounds, lengths, pattern, anyOf, allOf, $ref
// (to #/$defs). The API validates again: this only saves a round trip and says what is wrong early.
export function validate(schema, value, root = schema, path = "payload") {
  const errors = [];
  const at = (message) => errors.push(`${path}: ${message}`);
  if (schema === true || schema === undefined) return errors;
  if (schema === false) return [`${path}: not allowed`];
  if (schema.$ref) {
    const name = schema.$ref.replace(/^#\/\$defs\//, "");
    return validate((root.$defs || {})[name], value, root, path);
  }
  if (schema.allOf) for (const s of schema.allOf) errors.push(...validate(s, value, root, path));
  if (schema.anyOf && !schema.anyOf.some((s) => validate(s, value, root, path).length === 0)) {
    at("matches none of the allowed shapes");
  }
  if (schema.type) {
    const types = Array.isArray(schema.type) ? schema.type : [schema.type];
    if (!types.some((t) => isType(t, value))) return [...errors, `${path}: should be ${types.join(" or ")}`];
  }
  if ("const" in schema && JSON.stringify(schema.const) !== JSON.stringify(value)) at(`should be ${JSON.stringify(schema.const)}`);
  if (schema.enum && !schema.enum.some((e) => JSON.stringify(e) === JSON.stringify(value))) {
    at(`should be one of ${schema.enum.map((e) => JSON.stringify(e)).join(", ")}`);
  }
  if (typeof value === "number") {
    if (schema.minimum !== undefined && value < schema.minimum) at(`should be at least ${schema.minimum}`);
    if (schema.maximum !== undefined && value > schema.maximum) at(`should be at most ${schema.maximum}`);
    if (schema.exclusiveMinimum !== undefined && value <= schema.exclusiveMinimum) at(`should be above ${schema.exclusiveMinimum}`);
    if (schema.exclusiveMaximum !== undefined && value >= schema.exclusiveMaximum) at(`should be below ${schema.exclusiveMaximum}`);
  }
  if (typeof value === "string") {
    if (schema.minLength !== undefined && [...value].length < schema.minLength) at(`should have at least ${schema.minLength} characters`);
    if (schema.maxLength !== undefined && [...value].length > schema.maxLength) at(`should have at most ${schema.maxLength} characters`);
    if (schema.pattern && !new RegExp(schema.pattern, "u").test(value)) at(`should match ${schema.pattern}`);
  }
  if (Array.isArray(value)) {
    if (schema.minItems !== undefined && value.length < schema.minItems) at(`should have at least ${schema.minItems} items`);
    if (schema.maxItems !== undefined && value.length > schema.maxItems) at(`should have at most ${schema.maxItems} items`);
    if (schema.items) value.forEach((v, i) => errors.push(...validate(schema.items, v, root, `${path}[${i}]`)));
  }
  if (isType("object", value)) {
    for (const name of schema.required || []) if (!(name in value)) at(`"${name}" is required`);
    const properties = schema.properties || {};
    for (const [name, v] of Object.entries(value)) {
      if (name in properties) errors.push(...validate(properties[name], v, root, `${path}.${name}`));
      else if (schema.additionalProperties === false) at(`"${name}" is not allowed`);
      else if (typeof schema.additionalProperties === "object") {
        errors.push(...validate(schema.additionalProperties, v, root, `${path}.${name}`));
      }
    }
  }
  return errors;
}

function isType(type, value) {
  switch (type) {
    case "object": return value !== null && typeof value === "object" && !Array.isArray(value);
    case "array": return Array.isArray(value);
    case "string": return typeof value === "string";
    case "integer": return Number.isInteger(value);
    case "number": return typeof value === "number";
    case "boolean": return typeof value === "boolean";
    case "null": return value === null;
    default: return true;
  }
}

// A payload to start from: the required properties with their defaults, or an empty value of their type.
export function example(schema, root = schema) {
  if (schema && schema.$ref) return example((root.$defs || {})[schema.$ref.replace(/^#\/\$defs\//, "")], root);
  if (!schema || typeof schema !== "object") return {};
  if ("default" in schema) return schema.default;
  if (schema.examples && schema.examples.length) return schema.examples[0];
  const type = Array.isArray(schema.type) ? schema.type[0] : schema.type;
  if (type === "object" || schema.properties) {
    const out = {};
    for (const name of schema.required || []) out[name] = example(schema.properties?.[name], root);
    return out;
  }
  return { string: "", integer: 1, number: 1, boolean: false, array: [], null: null }[type] ?? {};
}
