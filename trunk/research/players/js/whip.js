/* WHIP/WHEP signalling (draft-ietf-wish-whip, the WHEP draft) as this server speaks it: POST the SDP offer
   to the endpoint, 201 with the answer and a Location; DELETE that Location ends the session.
   Used by rtc_publisher.html; window.SrsWhip. */
(function () {
  "use strict";
  function exchange(pc, endpoint) {
    return pc.createOffer().then(function (offer) {
      return pc.setLocalDescription(offer);
    }).then(function () {
      return fetch(endpoint, {method: "POST", headers: {"Content-Type": "application/sdp"},
                              body: pc.localDescription.sdp});
    }).then(function (r) {
      return r.text().then(function (body) {
        if (r.status !== 201) { throw new Error("HTTP " + r.status + ": " + body); }
        return pc.setRemoteDescription({type: "answer", sdp: body}).then(function () {
          return new URL(r.headers.get("Location") || "", endpoint).href;
        });
      });
    });
  }
  function end(location) {
    if (location) { fetch(location, {method: "DELETE"}).catch(function () {}); }
  }
  /* The endpoint from the page's query: ?app=&stream=, or ?url=webrtc://host/app/stream; &api=http://host:1985
     when the API is not this host's port 1985. ``path`` is "/rtc/v1/whip/" or "/rtc/v1/whep/". */
  function endpoint(path) {
    var q = new URLSearchParams(window.location.search);
    var host = window.location.hostname || "127.0.0.1";
    var app = q.get("app") || "live", stream = q.get("stream") || "livestream";
    var m = /^webrtc:\/\/([^/:]+)(?::\d+)?\/(.+)\/([^/?]+)/.exec(q.get("url") || "");
    if (m) { host = m[1]; app = m[2]; stream = m[3]; }
    var api = q.get("api") || (window.location.protocol + "//" + host + ":1985");
    return api + path + "?app=" + encodeURIComponent(app) + "&stream=" + encodeURIComponent(stream);
  }
  window.SrsWhip = {exchange: exchange, end: end, endpoint: endpoint};
})();
