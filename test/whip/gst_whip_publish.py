#!/usr/bin/python3
"""A non-browser WHIP publisher: GStreamer webrtcbin (python3-gi), H.264 + Opus, max-bundle.

With bundle-policy max-bundle webrtcbin offers the audio m-line with port 0 and
a=bundle-only, which is the case kibitz must rewrite for werift.

Usage: /usr/bin/python3 gst_whip_publish.py URL TOKEN SECONDS [WIDTHxHEIGHT] [FPS]
Prints one JSON object per line on stdout: offer, posted, connected, deleted, error, done.
Needs: python3-gi gir1.2-gst-plugins-bad-1.0 gstreamer1.0-plugins-{bad,good,ugly} gstreamer1.0-nice.
"""
import json
import sys
import threading
import urllib.error
import urllib.parse
import urllib.request

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstWebRTC", "1.0")
gi.require_version("GstSdp", "1.0")
from gi.repository import GLib, Gst, GstSdp, GstWebRTC  # noqa: E402


def emit(event, **kw):
    print(json.dumps({"event": event, **kw}), flush=True)


def main():
    url, token, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
    size = sys.argv[4] if len(sys.argv) > 4 else "320x240"
    fps = int(sys.argv[5]) if len(sys.argv) > 5 else 30
    w, h = size.split("x")
    Gst.init(None)
    pipe = Gst.parse_launch(
        f"videotestsrc is-live=true pattern=ball ! video/x-raw,width={w},height={h},framerate={fps}/1 "
        f"! videoconvert ! x264enc tune=zerolatency speed-preset=ultrafast key-int-max={fps} bframes=0 bitrate=800 "
        "! video/x-h264,profile=constrained-baseline ! rtph264pay config-interval=-1 aggregate-mode=zero-latency "
        "! application/x-rtp,media=video,encoding-name=H264,payload=96,clock-rate=90000 ! wb. "
        "audiotestsrc is-live=true wave=sine ! audioconvert ! audioresample ! opusenc ! rtpopuspay "
        "! application/x-rtp,media=audio,encoding-name=OPUS,payload=111,clock-rate=48000 ! wb. "
        "webrtcbin name=wb bundle-policy=max-bundle"
    )
    wb = pipe.get_by_name("wb")
    loop = GLib.MainLoop()
    state = {"location": None, "rc": 0, "offer_sent": False}

    def fail(msg):
        emit("error", message=msg)
        state["rc"] = 1
        GLib.idle_add(loop.quit)

    def post_offer():
        offer = wb.get_property("local-description").sdp.as_text()
        emit("offer", bundle_only="a=bundle-only" in offer, audio_port0="m=audio 0 " in offer, sdp=offer)
        req = urllib.request.Request(url, data=offer.encode(), method="POST",
                                     headers={"Content-Type": "application/sdp", "Authorization": f"Bearer {token}"})
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                status, body, loc = r.status, r.read().decode(), r.headers.get("Location")
        except urllib.error.HTTPError as e:
            return fail(f"HTTP {e.code}: {e.read().decode()}")
        except Exception as e:  # noqa: BLE001
            return fail(f"POST failed: {e}")
        state["location"] = urllib.parse.urljoin(url, loc)
        emit("posted", status=status, location=state["location"])
        ok, msg = GstSdp.SDPMessage.new_from_text(body)
        answer = GstWebRTC.WebRTCSessionDescription.new(GstWebRTC.WebRTCSDPType.ANSWER, msg)
        GLib.idle_add(lambda: wb.emit("set-remote-description", answer, None) and False)
        GLib.timeout_add(int(seconds * 1000), stop)

    def on_gathering(*_):
        if wb.get_property("ice-gathering-state") == GstWebRTC.WebRTCICEGatheringState.COMPLETE and not state["offer_sent"]:
            state["offer_sent"] = True
            threading.Thread(target=post_offer, daemon=True).start()

    def on_offer(promise, _):
        reply = promise.get_reply()
        offer = reply.get_value("offer")
        wb.emit("set-local-description", offer, None)

    def on_negotiation_needed(_):
        i = 0
        while (t := wb.emit("get-transceiver", i)) is not None:
            t.set_property("direction", GstWebRTC.WebRTCRTPTransceiverDirection.SENDONLY)
            i += 1
        p = Gst.Promise.new_with_change_func(on_offer, None)
        wb.emit("create-offer", None, p)

    def on_conn_state(*_):
        s = wb.get_property("connection-state")
        if s == GstWebRTC.WebRTCPeerConnectionState.CONNECTED:
            emit("connected")
        elif s == GstWebRTC.WebRTCPeerConnectionState.FAILED:
            fail("peer connection failed")

    def stop():
        if state["location"]:
            try:
                with urllib.request.urlopen(urllib.request.Request(state["location"], method="DELETE"), timeout=5) as r:
                    emit("deleted", status=r.status)
            except urllib.error.HTTPError as e:
                emit("deleted", status=e.code)
        loop.quit()
        return False

    wb.connect("on-negotiation-needed", on_negotiation_needed)
    wb.connect("notify::ice-gathering-state", on_gathering)
    wb.connect("notify::connection-state", on_conn_state)
    bus = pipe.get_bus()
    bus.add_signal_watch()
    bus.connect("message::error", lambda _b, m: fail(str(m.parse_error())))
    pipe.set_state(Gst.State.PLAYING)
    GLib.timeout_add(int((seconds + 20) * 1000), lambda: fail("timed out") or False)
    loop.run()
    pipe.set_state(Gst.State.NULL)
    emit("done", rc=state["rc"])
    sys.exit(state["rc"])


if __name__ == "__main__":
    main()
