/** The app's JSON API, called with a Connect context JWT (AP.context.getToken()). */

export function token() {
  return new Promise(function (resolve, reject) {
    var result = window.AP.context.getToken(resolve);
    if (result && typeof result.then === 'function') result.then(resolve, reject);
  });
}

export function api(method, path, body) {
  return token().then(function (jwt) {
    var headers = { authorization: 'JWT ' + jwt, accept: 'application/json' };
    if (body !== undefined) headers['content-type'] = 'application/json';
    return fetch('/api' + path, { method: method, headers: headers, body: body !== undefined ? JSON.stringify(body) : undefined });
  }).then(function (res) {
    if (res.status === 204) return null;
    var isJson = (res.headers.get('content-type') || '').indexOf('json') >= 0;
    return (isJson ? res.json() : res.text()).then(function (data) {
      if (!res.ok) {
        var error = new Error((data && data.message) || res.statusText);
        error.status = res.status;
        error.data = data;
        throw error;
      }
      return data;
    });
  });
}

export function qs(params) {
  var parts = Object.keys(params).filter(function (k) { return params[k] !== '' && params[k] !== undefined && params[k] !== null; })
    .map(function (k) { return encodeURIComponent(k) + '=' + encodeURIComponent(params[k]); });
  return parts.length ? '?' + parts.join('&') : '';
}
