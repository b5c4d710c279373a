/*
 * Development stand-in for Atlassian's all.js inside the /dev host: the subset of the AP API the admin pages
 * use. Context tokens come from /dev/token (signed for the local tenant); navigation reloads the host page.
 */
(function () {
  'use strict';
  var cached = null;
  function getToken(callback) {
    var now = Date.now();
    var promise = cached && cached.expiresAt - 30000 > now
      ? Promise.resolve(cached.token)
      : fetch('/dev/token', { credentials: 'same-origin' })
          .then(function (res) { if (!res.ok) throw new Error('dev token: ' + res.status); return res.json(); })
          .then(function (body) { cached = { token: body.token, expiresAt: now + body.expiresIn * 1000 }; return body.token; });
    if (typeof callback === 'function') promise.then(callback);
    return promise;
  }
  window.AP = {
    context: {
      getToken: getToken,
      getContext: function (callback) {
        var context = { jira: {}, license: { active: true } };
        if (typeof callback === 'function') callback(context);
        return Promise.resolve(context);
      },
    },
    resize: function () {},
    sizeToParent: function () {},
    navigator: {
      go: function (target, context) {
        if (target === 'addonmodule' && context && context.moduleKey) {
          window.top.location.href = '/dev?page=' + encodeURIComponent(context.moduleKey);
        }
      },
      reload: function () { window.top.location.reload(); },
    },
    flag: {
      create: function (options) {
        window.parent.postMessage({ type: 'ugs-dev-flag', kind: options.type || 'info', text: (options.title ? options.title + ': ' : '') + (options.body || '') }, window.location.origin);
        return { close: function () {} };
      },
    },
  };
})();
