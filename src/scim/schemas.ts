/**
 * The resource schemas this service provider implements (RFC 7643 §4, §8.7), in the representation
 * `/Schemas` serves. They are the single source of truth: resource coercion (what is stored), filter
 * and sort translation (caseExact) and discovery all read them.
 */

export const USER_SCHEMA = 'urn:ietf:params:scim:schemas:core:2.0:User';
export const ENTERPRISE_USER_SCHEMA = 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User';
export const GROUP_SCHEMA = 'urn:ietf:params:scim:schemas:core:2.0:Group';
export const LIST_RESPONSE_SCHEMA = 'urn:ietf:params:scim:api:messages:2.0:ListResponse';
export const PATCH_OP_SCHEMA = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';
export const SEARCH_REQUEST_SCHEMA = 'urn:ietf:params:scim:api:messages:2.0:SearchRequest';
export const SPC_SCHEMA = 'urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig';
export const RESOURCE_TYPE_SCHEMA = 'urn:ietf:params:scim:schemas:core:2.0:ResourceType';
export const SCHEMA_SCHEMA = 'urn:ietf:params:scim:schemas:core:2.0:Schema';

export type AttributeType = 'string' | 'boolean' | 'decimal' | 'integer' | 'dateTime' | 'reference' | 'complex' | 'binary';

export interface AttributeDef {
  name: string;
  type: AttributeType;
  multiValued: boolean;
  description: string;
  required: boolean;
  caseExact: boolean;
  mutability: 'readOnly' | 'readWrite' | 'immutable' | 'writeOnly';
  returned: 'always' | 'never' | 'default' | 'request';
  uniqueness: 'none' | 'server' | 'global';
  canonicalValues?: string[];
  referenceTypes?: string[];
  subAttributes?: AttributeDef[];
}

type Options = Partial<Omit<AttributeDef, 'name' | 'type' | 'subAttributes'>>;

function attr(name: string, type: AttributeType, options: Options = {}, subAttributes?: AttributeDef[]): AttributeDef {
  if (type === 'reference' && !options.referenceTypes?.length) throw new Error(`reference attribute ${name} needs referenceTypes (RFC 7643 §7)`);
  if (type === 'complex' && !subAttributes?.length) throw new Error(`complex attribute ${name} needs subAttributes (RFC 7643 §7)`);
  return {
    name,
    type,
    multiValued: false,
    description: options.description ?? name,
    required: false,
    // References and binaries are case exact (RFC 7643 §2.3.6, §2.3.7).
    caseExact: type === 'reference' || type === 'binary',
    mutability: 'readWrite',
    returned: 'default',
    uniqueness: 'none',
    ...options,
    ...(subAttributes ? { subAttributes } : {}),
  };
}

const str = (name: string, options: Options = {}) => attr(name, 'string', options);

/** value/display/type/primary: the shape of emails, phoneNumbers, ims, photos, entitlements, roles, x509. */
function multiValuedStandard(name: string, valueType: AttributeType, canonicalTypes: string[] | undefined, description: string, referenceTypes?: string[]): AttributeDef {
  return attr(name, 'complex', { multiValued: true, description }, [
    attr('value', valueType, { description: `The ${name} value.`, ...(referenceTypes ? { referenceTypes } : {}) }),
    str('display', { description: 'A human-readable name, primarily used for display purposes.' }),
    str('type', { description: 'A label indicating the function.', ...(canonicalTypes ? { canonicalValues: canonicalTypes } : {}) }),
    attr('primary', 'boolean', { description: 'Indicates the primary or preferred value.' }),
  ]);
}

export const USER_ATTRIBUTES: AttributeDef[] = [
  str('userName', { required: true, uniqueness: 'server', description: 'Unique identifier for the User, issued by the client. Case-insensitive.' }),
  attr('name', 'complex', { description: "The components of the user's name." }, [
    str('formatted'),
    str('familyName'),
    str('givenName'),
    str('middleName'),
    str('honorificPrefix'),
    str('honorificSuffix'),
  ]),
  str('displayName'),
  str('nickName'),
  attr('profileUrl', 'reference', { referenceTypes: ['external'] }),
  str('title'),
  str('userType'),
  str('preferredLanguage'),
  str('locale'),
  str('timezone'),
  attr('active', 'boolean', { description: "The user's administrative status." }),
  attr('password', 'string', { mutability: 'writeOnly', returned: 'never', description: 'Accepted and never stored or returned.' }),
  multiValuedStandard('emails', 'string', ['work', 'home', 'other'], 'Email addresses for the user.'),
  multiValuedStandard('phoneNumbers', 'string', ['work', 'home', 'mobile', 'fax', 'pager', 'other'], 'Phone numbers for the user.'),
  multiValuedStandard('ims', 'string', undefined, 'Instant messaging addresses for the user.'),
  multiValuedStandard('photos', 'reference', ['photo', 'thumbnail'], 'URLs of photos of the user.', ['external']),
  attr('addresses', 'complex', { multiValued: true, description: 'A physical mailing address for this user.' }, [
    str('formatted'),
    str('streetAddress'),
    str('locality'),
    str('region'),
    str('postalCode'),
    str('country'),
    str('type', { canonicalValues: ['work', 'home', 'other'] }),
    attr('primary', 'boolean'),
  ]),
  attr('groups', 'complex', { multiValued: true, mutability: 'readOnly', description: 'Groups the user belongs to (from group membership).' }, [
    str('value', { mutability: 'readOnly' }),
    attr('$ref', 'reference', { mutability: 'readOnly', referenceTypes: ['Group'] }),
    str('display', { mutability: 'readOnly' }),
    str('type', { mutability: 'readOnly', canonicalValues: ['direct', 'indirect'] }),
  ]),
  multiValuedStandard('entitlements', 'string', undefined, 'Entitlements of the user.'),
  multiValuedStandard('roles', 'string', undefined, 'Roles of the user.'),
  multiValuedStandard('x509Certificates', 'binary', undefined, 'Certificates of the user.'),
];

export const ENTERPRISE_USER_ATTRIBUTES: AttributeDef[] = [
  str('employeeNumber'),
  str('costCenter'),
  str('organization'),
  str('division'),
  str('department'),
  attr('manager', 'complex', { description: "The user's manager." }, [
    str('value', { description: 'The id of the SCIM resource representing the manager.', caseExact: true }),
    attr('$ref', 'reference', { referenceTypes: ['User'] }),
    str('displayName', { mutability: 'readOnly' }),
  ]),
];

export const GROUP_ATTRIBUTES: AttributeDef[] = [
  str('displayName', { required: true, uniqueness: 'server', description: 'A human-readable name for the Group; unique per directory.' }),
  attr('members', 'complex', { multiValued: true, description: 'Members of the group (users of this directory).' }, [
    str('value', { mutability: 'immutable', caseExact: true }),
    attr('$ref', 'reference', { mutability: 'immutable', referenceTypes: ['User'] }),
    str('display', { mutability: 'readOnly' }),
    str('type', { mutability: 'immutable', canonicalValues: ['User'] }),
  ]),
];

/** id, externalId and meta (RFC 7643 §3.1), common to every resource. */
export const COMMON_ATTRIBUTES: AttributeDef[] = [
  str('id', { mutability: 'readOnly', returned: 'always', caseExact: true, uniqueness: 'server' }),
  str('externalId', { caseExact: true }),
  attr('meta', 'complex', { mutability: 'readOnly' }, [
    str('resourceType', { mutability: 'readOnly', caseExact: true }),
    attr('created', 'dateTime', { mutability: 'readOnly' }),
    attr('lastModified', 'dateTime', { mutability: 'readOnly' }),
    attr('location', 'reference', { mutability: 'readOnly', referenceTypes: ['uri'] }),
    str('version', { mutability: 'readOnly', caseExact: true }),
  ]),
];

export interface ResourceKind {
  name: 'User' | 'Group';
  endpoint: '/Users' | '/Groups';
  schema: string;
  attributes: AttributeDef[];
  extensions: { schema: string; attributes: AttributeDef[]; required: boolean }[];
}

export const USER_KIND: ResourceKind = {
  name: 'User',
  endpoint: '/Users',
  schema: USER_SCHEMA,
  attributes: USER_ATTRIBUTES,
  extensions: [{ schema: ENTERPRISE_USER_SCHEMA, attributes: ENTERPRISE_USER_ATTRIBUTES, required: false }],
};

export const GROUP_KIND: ResourceKind = {
  name: 'Group',
  endpoint: '/Groups',
  schema: GROUP_SCHEMA,
  attributes: GROUP_ATTRIBUTES,
  extensions: [],
};

const byLowerName = new WeakMap<AttributeDef[], Map<string, AttributeDef>>();

/** Case-insensitive lookup of an attribute definition by name (attribute names are case-insensitive, RFC 7643 §2.1). */
export function findAttribute(defs: AttributeDef[] | undefined, name: string): AttributeDef | undefined {
  if (!defs) return undefined;
  // Every request looks names up many times (coercion, filters, paths): index each list once.
  let index = byLowerName.get(defs);
  if (!index) {
    index = new Map(defs.map((d) => [d.name.toLowerCase(), d]));
    byLowerName.set(defs, index);
  }
  return index.get(name.toLowerCase());
}

/** Limits advertised in /ServiceProviderConfig and enforced by the router. */
export interface ServiceLimits {
  maxResults: number;
  maxPayloadBytes: number;
  /** Operations accepted in one PATCH (src/scim/limits.ts). */
  maxOperations?: number;
}

export function serviceProviderConfig(baseUrl: string, limits: ServiceLimits): Record<string, unknown> {
  return {
    schemas: [SPC_SCHEMA],
    documentationUri: 'https://datatracker.ietf.org/doc/html/rfc7644',
    // maxOperations is not an RFC 7643 attribute of patch; clients ignore what they do not know.
    patch: { supported: true, ...(limits.maxOperations ? { maxOperations: limits.maxOperations } : {}) },
    bulk: { supported: false, maxOperations: 0, maxPayloadSize: limits.maxPayloadBytes },
    filter: { supported: true, maxResults: limits.maxResults },
    changePassword: { supported: false },
    sort: { supported: true },
    etag: { supported: true },
    authenticationSchemes: [
      {
        type: 'oauthbearertoken',
        name: 'OAuth Bearer Token',
        description: 'Authentication with the bearer token issued for this connection.',
        specUri: 'https://datatracker.ietf.org/doc/html/rfc6750',
        primary: true,
      },
    ],
    meta: { resourceType: 'ServiceProviderConfig', location: `${baseUrl}/ServiceProviderConfig` },
  };
}

export function resourceTypes(baseUrl: string): Record<string, unknown>[] {
  return [USER_KIND, GROUP_KIND].map((kind) => ({
    schemas: [RESOURCE_TYPE_SCHEMA],
    id: kind.name,
    name: kind.name,
    endpoint: kind.endpoint,
    description: kind.name,
    schema: kind.schema,
    schemaExtensions: kind.extensions.map((e) => ({ schema: e.schema, required: e.required })),
    meta: { resourceType: 'ResourceType', location: `${baseUrl}/ResourceTypes/${kind.name}` },
  }));
}

// ---- the schemas of the discovery resources themselves (RFC 7643 §8.7.2) --------------------------------

const readOnly = (def: AttributeDef): AttributeDef => ({ ...def, mutability: 'readOnly', ...(def.subAttributes ? { subAttributes: def.subAttributes.map(readOnly) } : {}) });
const flag = (name: string, description: string, required = true) => attr(name, 'boolean', { required, description });

const SPC_ATTRIBUTES: AttributeDef[] = [
  attr('documentationUri', 'reference', { referenceTypes: ['external'], description: "An HTTP-addressable URL pointing to the service provider's human-consumable help documentation." }),
  attr('patch', 'complex', { required: true, description: 'A complex type that specifies PATCH configuration options.' }, [flag('supported', 'A Boolean value specifying whether or not the operation is supported.')]),
  attr('bulk', 'complex', { required: true, description: 'A complex type that specifies bulk configuration options.' }, [
    flag('supported', 'A Boolean value specifying whether or not the operation is supported.'),
    attr('maxOperations', 'integer', { required: true, description: 'An integer value specifying the maximum number of operations.' }),
    attr('maxPayloadSize', 'integer', { required: true, description: 'An integer value specifying the maximum payload size in bytes.' }),
  ]),
  attr('filter', 'complex', { required: true, description: 'A complex type that specifies FILTER options.' }, [
    flag('supported', 'A Boolean value specifying whether or not the operation is supported.'),
    attr('maxResults', 'integer', { required: true, description: 'An integer value specifying the maximum number of resources returned in a response.' }),
  ]),
  attr('changePassword', 'complex', { required: true, description: 'A complex type that specifies configuration options related to changing a password.' }, [
    flag('supported', 'A Boolean value specifying whether or not the operation is supported.'),
  ]),
  attr('sort', 'complex', { required: true, description: 'A complex type that specifies sort result options.' }, [flag('supported', 'A Boolean value specifying whether or not sorting is supported.')]),
  attr('etag', 'complex', { required: true, description: 'A complex type that specifies ETag configuration options.' }, [flag('supported', 'A Boolean value specifying whether or not the operation is supported.')]),
  attr('authenticationSchemes', 'complex', { required: true, multiValued: true, description: 'A complex type that specifies supported authentication scheme properties.' }, [
    str('type', { required: true, canonicalValues: ['oauth', 'oauth2', 'oauthbearertoken', 'httpbasic', 'httpdigest'], description: 'The authentication scheme.' }),
    str('name', { required: true, description: 'The common authentication scheme name, e.g., HTTP Basic.' }),
    str('description', { required: true, description: 'A description of the authentication scheme.' }),
    attr('specUri', 'reference', { referenceTypes: ['external'], description: "An HTTP-addressable URL pointing to the authentication scheme's specification." }),
    attr('documentationUri', 'reference', { referenceTypes: ['external'], description: "An HTTP-addressable URL pointing to the authentication scheme's usage documentation." }),
    attr('primary', 'boolean', { description: 'Whether this is the preferred authentication scheme.' }),
  ]),
].map(readOnly);

const RESOURCE_TYPE_ATTRIBUTES: AttributeDef[] = [
  str('id', { description: "The resource type's server unique id. May be the same as the 'name' attribute." }),
  str('name', { required: true, description: "The resource type name. When applicable, service providers MUST specify the name, e.g., 'User'." }),
  str('description', { description: "The resource type's human-readable description." }),
  attr('endpoint', 'reference', { required: true, referenceTypes: ['uri'], description: "The resource type's HTTP-addressable endpoint relative to the Base URL, e.g., '/Users'." }),
  attr('schema', 'reference', { required: true, referenceTypes: ['uri'], description: "The resource type's primary/base schema URI." }),
  attr('schemaExtensions', 'complex', { multiValued: true, description: "A list of URIs of the resource type's schema extensions." }, [
    attr('schema', 'reference', { required: true, referenceTypes: ['uri'], description: 'The URI of a schema extension.' }),
    flag('required', 'Whether a resource of this type must include this schema extension.'),
  ]),
].map(readOnly);

/** The characteristics of an attribute (RFC 7643 §7), as sub-attributes. */
const CHARACTERISTICS: AttributeDef[] = [
  str('name', { required: true, caseExact: true, description: "The attribute's name." }),
  str('type', { required: true, canonicalValues: ['string', 'complex', 'boolean', 'decimal', 'integer', 'dateTime', 'reference', 'binary'], description: "The attribute's data type." }),
  flag('multiValued', "A Boolean value indicating the attribute's plurality."),
  str('description', { description: "A human-readable description of the attribute." }),
  flag('required', 'A Boolean value indicating whether or not the attribute is required.', false),
  str('canonicalValues', { multiValued: true, caseExact: true, description: "A collection of canonical values." }),
  flag('caseExact', 'A Boolean value indicating whether or not a string attribute is case sensitive.', false),
  str('mutability', { canonicalValues: ['readOnly', 'readWrite', 'immutable', 'writeOnly'], caseExact: true, description: 'Whether and when the attribute can be written.' }),
  str('returned', { canonicalValues: ['always', 'never', 'default', 'request'], caseExact: true, description: 'When the attribute is returned in a response.' }),
  str('uniqueness', { canonicalValues: ['none', 'server', 'global'], caseExact: true, description: 'How the service provider enforces uniqueness of the attribute value.' }),
  str('referenceTypes', { multiValued: true, caseExact: true, description: "The SCIM resource types that may be referenced ('external', 'uri', or a resource type such as 'User')." }),
];

const SCHEMA_ATTRIBUTES: AttributeDef[] = [
  str('id', { required: true, caseExact: true, description: 'The unique URI of the schema.' }),
  str('name', { description: "The schema's human-readable name." }),
  str('description', { description: "The schema's human-readable description." }),
  attr('attributes', 'complex', { required: true, multiValued: true, description: 'The attributes of the schema and their characteristics.' }, [
    ...CHARACTERISTICS,
    // RFC 7643 §8.7.2 describes sub-attributes with the same characteristics, one level down: the one
    // complex attribute nested in another that the RFC itself publishes.
    attr('subAttributes', 'complex', { multiValued: true, description: 'The sub-attributes of a complex attribute, with the same characteristics.' }, CHARACTERISTICS),
  ]),
].map(readOnly);

export function schemaDocuments(baseUrl: string): Record<string, unknown>[] {
  const doc = (id: string, name: string, attributes: AttributeDef[]) => ({
    schemas: [SCHEMA_SCHEMA],
    id,
    name,
    description: `${name} schema`,
    attributes,
    meta: { resourceType: 'Schema', location: `${baseUrl}/Schemas/${id}` },
  });
  return [
    doc(USER_SCHEMA, 'User', USER_ATTRIBUTES),
    doc(ENTERPRISE_USER_SCHEMA, 'EnterpriseUser', ENTERPRISE_USER_ATTRIBUTES),
    doc(GROUP_SCHEMA, 'Group', GROUP_ATTRIBUTES),
    doc(SPC_SCHEMA, 'ServiceProviderConfig', SPC_ATTRIBUTES),
    doc(RESOURCE_TYPE_SCHEMA, 'ResourceType', RESOURCE_TYPE_ATTRIBUTES),
    doc(SCHEMA_SCHEMA, 'Schema', SCHEMA_ATTRIBUTES),
  ];
}
