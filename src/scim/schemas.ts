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
  return {
    name,
    type,
    multiValued: false,
    description: options.description ?? name,
    required: false,
    caseExact: false,
    mutability: 'readWrite',
    returned: 'default',
    uniqueness: 'none',
    ...options,
    ...(subAttributes ? { subAttributes } : {}),
  };
}

const str = (name: string, options: Options = {}) => attr(name, 'string', options);

/** value/display/type/primary: the shape of emails, phoneNumbers, ims, photos, entitlements, roles, x509. */
function multiValuedStandard(name: string, valueType: AttributeType, canonicalTypes: string[] | undefined, description: string): AttributeDef {
  return attr(name, 'complex', { multiValued: true, description }, [
    attr('value', valueType, { description: `The ${name} value.` }),
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
  multiValuedStandard('photos', 'reference', ['photo', 'thumbnail'], 'URLs of photos of the user.'),
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
    str('value', { description: 'The id of the SCIM resource representing the manager.' }),
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
    attr('location', 'reference', { mutability: 'readOnly' }),
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

/** Case-insensitive lookup of an attribute definition by name (attribute names are case-insensitive, RFC 7643 §2.1). */
export function findAttribute(defs: AttributeDef[] | undefined, name: string): AttributeDef | undefined {
  const lower = name.toLowerCase();
  return defs?.find((d) => d.name.toLowerCase() === lower);
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
  ];
}
