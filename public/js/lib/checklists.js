/**
 * What to do in each IdP once the app has its SCIM base URL and token: where to paste them, which provisioning
 * actions to switch on, what to map. Taken from each vendor's published setup steps (docs/web.md lists the
 * sources); menu names change between vendor releases, so each list names the screen, not every click.
 */
import { h } from './dom.js';

var CHECKLISTS = {
  miniorange: {
    title: 'miniOrange: SCIM Server (Destination) app',
    steps: [
      'In the miniOrange admin console open Apps → Add Application, choose Provisioning and search for "SCIM Server (Destination)".',
      'Give it a display name, then under Authorization Configuration paste the SCIM Base URL and the Bearer Token from above, and click Test Connection.',
      'Attribute mapping: userName, name.givenName, name.familyName, emails[type eq "work"].value, displayName and active are required; for groups map Group Name to displayName.',
      'Provisioning features: switch on Create User, Update User, Delete User, Create Group, Delete Group and Add/Remove Group Membership of User, then Save.',
      'Assign the app to the groups whose people should reach Atlassian (a policy for the app). Removing someone from that group, or deleting them, deprovisions them here.',
    ],
  },
  entra: {
    title: 'Microsoft Entra ID: non-gallery enterprise application',
    steps: [
      'In Entra admin center open Enterprise applications → New application → Create your own application, and pick "Integrate any other application you don\'t find in the gallery".',
      'Open Provisioning → Get started, set Provisioning Mode to Automatic.',
      'Under Admin Credentials paste the SCIM Base URL as Tenant URL and the token as Secret Token, click Test Connection, then Save.',
      'Mappings: keep "Provision Microsoft Entra ID Users" (userPrincipalName → userName, mail → emails[type eq "work"].value, givenName, surname, accountEnabled → active); enable "Provision Microsoft Entra ID Groups" if you sync groups (Entra ID P1 or higher).',
      'Under Users and groups assign who is in scope, keep Scope on "Sync only assigned users and groups", and set Provisioning Status to On. Entra runs a cycle about every 40 minutes.',
    ],
  },
  okta: {
    title: 'Okta: app integration with SCIM provisioning',
    steps: [
      'In the Okta Admin Console create an app integration (SAML or SWA), then on its General tab set Provisioning to SCIM and Save.',
      'Provisioning → Integration → Edit: SCIM connector base URL = the SCIM Base URL; Unique identifier field for users = userName.',
      'Supported provisioning actions: Push New Users, Push Profile Updates and Push Groups; Authentication Mode: HTTP Header, with the token as Bearer. Click Test Connector Configuration, then Save.',
      'Provisioning → To App → Edit: enable Create Users, Update User Attributes and Deactivate Users (Okta deactivates; it never deletes).',
      'Assign people or groups on the Assignments tab; push the groups you want in Atlassian on the Push Groups tab.',
    ],
  },
  onelogin: {
    title: 'OneLogin: SCIM Provisioner with SAML (SCIM v2 Enterprise)',
    steps: [
      'In OneLogin open Applications → Add App and choose "SCIM Provisioner with SAML (SCIM v2 Enterprise)".',
      'On the Configuration tab paste the SCIM Base URL and the SCIM Bearer Token, then click Enable under API Connection.',
      'Check the SCIM JSON template sends userName, name.givenName, name.familyName, emails (type work, primary) and active; Parameters: set the SCIM username to Email.',
      'Provisioning tab: tick Enable provisioning, untick the approval boxes for create, update and delete unless you want to approve each change, and choose Suspend when a user is removed (deactivates here).',
      'Give the app to a role (Access tab) so its users are provisioned; add group provisioning through Parameters → Groups if you sync groups.',
    ],
  },
  jumpcloud: {
    title: 'JumpCloud: custom application with Identity Management',
    steps: [
      'In the JumpCloud admin portal open SSO Applications → Add New Application → Custom Application and choose to export users to this app (Identity Management).',
      'On the Identity Management tab pick SCIM 2.0, paste the SCIM Base URL as Base URL and the token as Token Key, and give a Test User Email.',
      'Select "Enable management of User Groups and Group Membership" to sync groups (JumpCloud adopts an existing group with the same name).',
      'Click Test Connection (it creates and deletes a test user and group), then Activate and Save.',
      'On the app\'s User Groups tab select the groups whose members should be provisioned.',
    ],
  },
};

var GENERIC = {
  title: 'Your IdP: SCIM 2.0 provisioning',
  steps: [
    'Find the SCIM (outbound provisioning) settings of a new app in your IdP.',
    'Paste the SCIM Base URL and the Bearer token, and run its connection test.',
    'Map userName, name.givenName, name.familyName, a work email, displayName and active; groups by displayName.',
    'Switch on create, update and deactivate (or delete) of users and group push, then assign the people and groups to sync.',
  ],
};

/** The checklist for a provider, as a section element (an ordered list under a heading). */
export function checklist(provider) {
  var list = CHECKLISTS[provider] || GENERIC;
  return h('section', { class: 'ugs-checklist', 'data-checklist': provider || 'generic', 'aria-label': 'Setup checklist' },
    h('h3', {}, 'Next: ' + list.title),
    h.apply(null, ['ol', {}].concat(list.steps.map(function (step) { return h('li', {}, step); }))),
    h('p', { class: 'description' }, 'Then push a user from the IdP: it appears here at once, and Synchronize (or the next SCIM change) brings it into the targets.'));
}
