"""Generate the labelled link-detection corpus (the JSONL files next to this script).

    python tests/corpus/links/generate.py

The bodies are modelled on real invitations as providers store them: Zoom,
Teams, Webex, GoTo, Chime, Jitsi... texts; Outlook HTML bodies with SafeLinks;
Google descriptions with google.com/url redirects; Google add-on
conferenceData; Graph onlineMeeting. Ids are random but deterministic
(fixed seed), so re-running gives the same files. The expected answers are
written by hand per template, never computed by the detector.

Each line: {"name", "provider", "event", "expected": {"url", "platform"} | null}.
"""

from __future__ import annotations

import base64
import json
import random
import string
import uuid
from pathlib import Path
from urllib.parse import quote

HERE = Path(__file__).parent
rng = random.Random(20240611)

# ---------------------------------------------------------------------------
# Random but realistic identifiers
# ---------------------------------------------------------------------------


def digits(n: int, first: str = "123456789") -> str:
    return rng.choice(first) + "".join(rng.choice(string.digits) for _ in range(n - 1))


def letters(n: int) -> str:
    return "".join(rng.choice(string.ascii_lowercase) for _ in range(n))


def alnum(n: int) -> str:
    return "".join(rng.choice(string.ascii_letters + string.digits) for _ in range(n))


def guid() -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def zoom_id() -> str:
    return digits(11, "89") if rng.random() < 0.8 else digits(10, "2345679")


def spaced_zoom_id(meeting_id: str) -> str:
    if len(meeting_id) == 11:
        return f"{meeting_id[:3]} {meeting_id[3:7]} {meeting_id[7:]}"
    return f"{meeting_id[:3]} {meeting_id[3:6]} {meeting_id[6:]}"


def zoom_pwd() -> str:
    if rng.random() < 0.5:  # older: base64 of a 24-char token
        return base64.b64encode(alnum(24).encode()).decode()
    return alnum(32) + ".1"  # newer embedded passcodes


def zoom_host() -> str:
    return rng.choice(
        [
            "zoom.us",
            "us02web.zoom.us",
            "us04web.zoom.us",
            "us06web.zoom.us",
            "acme.zoom.us",
            "northwind-traders.zoom.us",
            "contoso.zoom.us",
            "us05web.zoom.us",
        ]
    )


def meet_code() -> str:
    return f"{letters(3)}-{letters(4)}-{letters(3)}"


def teams_thread() -> str:
    token = base64.b64encode(guid().encode()).decode().rstrip("=")
    return f"19%3ameeting_{token}%40thread.v2"


def teams_context(tenant: str, organizer: str) -> str:
    return f"%7b%22Tid%22%3a%22{tenant}%22%2c%22Oid%22%3a%22{organizer}%22%7d"


def teams_join(host: str = "teams.microsoft.com") -> str:
    return f"https://{host}/l/meetup-join/{teams_thread()}/0?context={teams_context(guid(), guid())}"


def teams_meet_id() -> str:
    return digits(12, "2")[:12] if rng.random() < 0.5 else digits(14, "2")


def mtid() -> str:
    return "m" + "".join(rng.choice("0123456789abcdef") for _ in range(32))


def phone() -> str:
    return f"+1 {digits(3, '2345689')}-{digits(3)}-{digits(4)}"


# ---------------------------------------------------------------------------
# Wrappers the links travel in
# ---------------------------------------------------------------------------


def safelink(url: str) -> str:
    region = rng.choice(["nam12", "nam04", "eur01", "eur03", "apc01", "gbr01", "nam02", "can01"])
    data = (
        f"05%7C02%7Cjane.doe%40contoso.com%7C{alnum(32).lower()}%7C{guid()}%7C0%7C0%7C{digits(18)}"
        "%7CUnknown%7CTWFpbGZsb3d8eyJWIjoiMC4wLjAwMDAiLCJQIjoiV2luMzIiLCJBTiI6Ik1haWwiLCJXVCI6Mn0%3D%7C0%7C%7C%7C"
    )
    path = rng.choice(["/", "/ap/t-59584e83/"])
    return f"https://{region}.safelinks.protection.outlook.com{path}?url={quote(url, safe='')}&data={data}&sdata={alnum(43)}%3D&reserved=0"


def google_redirect(url: str) -> str:
    return f"https://www.google.com/url?q={quote(url, safe=':/?')}&sa=D&source=calendar&ust={digits(16)}&usg=AOvVaw{alnum(22)}"


def esc(url: str) -> str:
    """As the URL appears inside an HTML attribute."""
    return url.replace("&", "&amp;")


# ---------------------------------------------------------------------------
# Invitation bodies
# ---------------------------------------------------------------------------

PEOPLE = [
    "Jane Doe",
    "Rahul Mehta",
    "Chen Wei",
    "María García",
    "Tom O'Brien",
    "Aisha Bello",
    "Lukas Müller",
    "Priya Nair",
]
TOPICS = [
    "Weekly sync",
    "Q3 planning",
    "Design review",
    "1:1",
    "Customer call – Northwind",
    "Sprint retro",
    "Interview: Backend Engineer",
    "Board prep",
]


def zoom_text(url: str, meeting_id: str, passcode: str, host: str) -> str:
    sid = spaced_zoom_id(meeting_id)
    return (
        f"{rng.choice(PEOPLE)} is inviting you to a scheduled Zoom meeting.\n\n"
        f"Topic: {rng.choice(TOPICS)}\nTime: Jun 12, 2024 10:00 AM Pacific Time (US and Canada)\n\n"
        f"Join Zoom Meeting\n{url}\n\n"
        f"Meeting ID: {sid}\nPasscode: {passcode}\n\n---\n\n"
        f"One tap mobile\n+16694449171,,{meeting_id}#,,,,*{passcode}# US\n+16465588656,,{meeting_id}#,,,,*{passcode}# US (New York)\n\n---\n\n"
        f"Dial by your location\n• +1 669 444 9171 US\n• +1 646 558 8656 US (New York)\n• +44 203 481 5240 United Kingdom\n\n"
        f"Meeting ID: {sid}\nPasscode: {passcode}\n\n"
        f"Find your local number: https://{host}/u/k{alnum(9)}\n\n---\n\n"
        f"Join by SIP\n• {meeting_id}@zoomcrc.com\n\n---\n\nJoin by H.323\n• 144.195.19.161 (US West)\n• 206.247.11.121 (US East)\n\n"
        f"Meeting ID: {sid}\nPasscode: {passcode}\n"
    )


def zoom_html(href: str, visible: str, meeting_id: str, passcode: str, host: str, wrap=lambda u: u) -> str:
    sid = spaced_zoom_id(meeting_id)
    local = wrap(f"https://{host}/u/a{alnum(9)}")
    return (
        '<html><head><meta http-equiv="Content-Type" content="text/html; charset=utf-8"></head><body>'
        f"<div><p>{rng.choice(PEOPLE)} is inviting you to a scheduled Zoom meeting.</p>"
        f'<p><b>Join Zoom Meeting</b><br><a href="{esc(href)}" target="_blank">{visible}</a></p>'
        f"<p>Meeting ID: {sid}<br>Passcode: {passcode}</p><p>---</p>"
        f"<p>One tap mobile<br>+16469313860,,{meeting_id}#,,,,*{passcode}# US<br>+13017158592,,{meeting_id}#,,,,*{passcode}# US (Washington DC)</p>"
        f"<p>---</p><p>Dial by your location<br>• +1 646 931 3860 US<br>• +1 301 715 8592 US (Washington DC)</p>"
        f'<p>Find your local number: <a href="{esc(local)}">{esc(local)}</a></p>'
        f'<p>Join by SIP<br>• <a href="mailto:{meeting_id}@zoomcrc.com">{meeting_id}@zoomcrc.com</a></p></div></body></html>'
    )


def teams_html(href: str, meeting_code: str, passcode: str, wrap=lambda u: u, modern: bool = True) -> str:
    tenant, organizer = guid(), guid()
    help_link = wrap("https://aka.ms/JoinTeamsMeeting?omkt=en-US")
    options = wrap(
        f"https://teams.microsoft.com/meetingOptions/?organizerId={organizer}&tenantId={tenant}"
        f"&threadId=19_meeting_{alnum(40)}@thread.v2&messageId=0&language=en-US"
    )
    dialin = wrap(f"https://dialin.teams.microsoft.com/{guid()}?id={digits(9)}")
    head = (
        '<html><head>\r\n<meta http-equiv="Content-Type" content="text/html; charset=utf-8">\r\n</head>\r\n<body>\r\n'
        '<div><br></div>\r\n<div style="width:100%"><span style="white-space:nowrap;color:#5F5F5F;opacity:.36">'
        "________________________________________________________________________________</span></div>\r\n"
        '<div class="me-email-text" lang="en-US" style="color:#252424;font-family:\'Segoe UI\',\'Helvetica Neue\',Helvetica,Arial,sans-serif">\r\n'
    )
    if modern:
        middle = (
            '<div style="margin-top:24px;margin-bottom:20px"><span style="font-size:24px;color:#252424">Microsoft Teams '
            f'<a href="{esc(help_link)}" class="me-email-link" style="font-size:14px;text-decoration:underline;color:#5B5FC7">Need help?</a></span></div>\r\n'
            f'<div style="margin-bottom:6px"><a href="{esc(href)}" class="me-email-headline" style="font-size:20px;font-weight:600;text-decoration:underline;color:#5B5FC7">Join the meeting now</a></div>\r\n'
            f'<div style="margin-bottom:6px"><span style="font-size:14px;color:#616161">Meeting ID: </span><span style="font-size:14px;color:#242424">{meeting_code}</span></div>\r\n'
            f'<div style="margin-bottom:32px"><span style="font-size:14px;color:#616161">Passcode: </span><span style="font-size:14px;color:#242424">{passcode}</span></div>\r\n'
        )
    else:
        middle = (
            '<div style="margin-top:24px;margin-bottom:20px"><span style="font-size:24px;color:#252424">Microsoft Teams meeting</span></div>\r\n'
            '<div style="margin-bottom:20px"><div style="margin-top:0px;margin-bottom:0px;font-weight:bold"><span style="font-size:14px;color:#252424">Join on your computer, mobile app or room device</span></div>\r\n'
            f'<a class="me-email-headline" href="{esc(href)}" target="_blank" rel="noreferrer noopener" style="font-size:14px;text-decoration:underline;color:#6264a7">Click here to join the meeting</a></div>\r\n'
            f'<div style="margin-bottom:20px;margin-top:20px"><div style="margin-bottom:4px"><span data-tid="meeting-code" style="font-size:14px;color:#252424">Meeting ID: <span style="font-size:16px;color:#252424">{meeting_code}</span></span><br>'
            f'<span style="font-size:14px;color:#252424">Passcode: </span><span style="font-size:16px;color:#252424">{passcode}</span></div>\r\n'
            f'<div style="font-size:14px"><a class="me-email-link" style="font-size:14px;text-decoration:underline;color:#6264a7" target="_blank" href="{esc(wrap("https://www.microsoft.com/en-us/microsoft-teams/download-app"))}" rel="noreferrer noopener">Download Teams</a> | '
            f'<a class="me-email-link" style="font-size:14px;text-decoration:underline;color:#6264a7" target="_blank" href="{esc(wrap("https://www.microsoft.com/microsoft-teams/join-a-meeting"))}" rel="noreferrer noopener">Join on the web</a></div></div>\r\n'
        )
    tail = (
        '<div><span style="font-size:14px;color:#242424">Dial in by phone</span></div>\r\n'
        f'<div style="margin-bottom:8px"><a href="tel:+14255550100,,{digits(9)}#" class="me-email-link">+1 425-555-0100,,{digits(9)}#</a><span> United States, Seattle</span></div>\r\n'
        f'<div style="margin-bottom:24px"><a href="{esc(dialin)}" class="me-email-link">Find a local number</a></div>\r\n'
        f'<div style="margin-bottom:4px"><span style="font-size:14px;color:#616161">Phone conference ID: </span><span style="font-size:14px;color:#242424">{digits(3)} {digits(3)} {digits(3)}#</span></div>\r\n'
        f'<div style="margin-bottom:12px"><span style="font-size:14px;color:#616161">For organizers: </span><a href="{esc(options)}" class="me-email-link">Meeting options</a>'
        f' | <a href="{esc(wrap("https://dialin.teams.microsoft.com/usp/pstnconferencing"))}" class="me-email-link">Reset dial-in PIN</a></div>\r\n'
        '<div style="font-size:12px;color:#616161">Org help | Privacy and security</div>\r\n'
        '<div style="width:100%"><span style="white-space:nowrap;color:#5F5F5F;opacity:.36">________________________________________________________________________________</span></div>\r\n'
        "</div>\r\n</body>\r\n</html>\r\n"
    )
    return head + middle + tail


def teams_text(href: str, meeting_code: str, passcode: str, modern: bool = True) -> str:
    options = f"https://teams.microsoft.com/meetingOptions/?organizerId={guid()}&tenantId={guid()}&threadId=19_meeting_{alnum(40)}@thread.v2&messageId=0&language=en-US"
    if modern:
        return (
            "________________________________________________________________________________\r\n"
            "Microsoft Teams Need help?<https://aka.ms/JoinTeamsMeeting?omkt=en-US>\r\n"
            f"Join the meeting now<{href}>\r\nMeeting ID: {meeting_code}\r\nPasscode: {passcode}\r\n"
            "________________________________\r\nDial in by phone\r\n"
            f"+1 425-555-0100,,{digits(9)}#<tel:+14255550100,,{digits(9)}#> United States, Seattle\r\n"
            f"Find a local number<https://dialin.teams.microsoft.com/{guid()}?id={digits(9)}>\r\n"
            f"Phone conference ID: {digits(3)} {digits(3)} {digits(3)}#\r\n"
            f"For organizers: Meeting options<{options}> | Reset dial-in PIN<https://dialin.teams.microsoft.com/usp/pstnconferencing>\r\n"
            "Org help | Privacy and security\r\n"
            "________________________________________________________________________________\r\n"
        )
    return (
        "________________________________________________________________________________\r\n"
        "Microsoft Teams meeting\r\nJoin on your computer, mobile app or room device\r\n"
        f"Click here to join the meeting<{href}>\r\nMeeting ID: {meeting_code}\r\nPasscode: {passcode}\r\n"
        "Download Teams<https://www.microsoft.com/en-us/microsoft-teams/download-app> | Join on the web<https://www.microsoft.com/microsoft-teams/join-a-meeting>\r\n"
        "Join with a video conferencing device\r\nteams@vc.contoso.com\r\n"
        f"Video Conference ID: {digits(3)} {digits(3)} {digits(3)} {digits(1)}\r\n"
        f"Alternate VTC instructions<https://pexip.me/teams/contoso.com/{digits(10)}>\r\n"
        "Or call in (audio only)\r\n"
        f"+1 929-352-1234,,{digits(9)}#<tel:+19293521234,,{digits(9)}#>   United States, New York City\r\n"
        f"Phone Conference ID: {digits(3)} {digits(3)} {digits(3)}#\r\n"
        f"Find a local number<https://dialin.teams.microsoft.com/{guid()}?id={digits(9)}> | Reset PIN<https://mysettings.lync.com/pstnconferencing>\r\n"
        f"Learn More<https://aka.ms/JoinTeamsMeeting> | Meeting options<{options}>\r\n"
        "________________________________________________________________________________\r\n"
    )


def teams_preview(meeting_code: str, passcode: str) -> str:
    text = (
        "________________________________________________________________________________ Microsoft Teams Need help? "
        f"Join the meeting now Meeting ID: {meeting_code} Passcode: {passcode} ________________________________ Dial in by phone +1 425-555-0100"
    )
    return text[:255]


def webex_text(site: str, join: str, number: str) -> str:
    password = alnum(11)
    numeric = digits(8)
    return (
        "When it's time, join the Webex meeting here.\n\n"
        f"Meeting number (access code): {number[:4]} {number[4:7]} {number[7:]}\n"
        f"Meeting password: {password} ({numeric} from phones and video systems)\n\n"
        f"Join meeting <{join}>\n\n"
        "Tap to join from a mobile device (attendees only)\n"
        f"+1-650-479-3208,,{number}#{numeric}# Call-in toll number (US/Canada)\n"
        f"+1-855-244-8681,,{number}#{numeric}# Call-in toll free number (US/Canada)\n\n"
        "Some mobile devices may ask attendees to enter a numeric password.\n\n"
        "Join by phone\n+1-650-479-3208 Call-in toll number (US/Canada)\n+1-855-244-8681 Call-in toll free number (US/Canada)\n"
        f"Global call-in numbers <https://{site}.webex.com/{site}/globalcallin.php?MTID={mtid()}>  | "
        "Toll-free calling restrictions <https://www.webex.com/pdf/tollfree_restrictions.pdf>\n\n"
        f"Join from a video system or application\nDial {number}@{site}.webex.com\n"
        "You can also dial 173.243.2.68 and enter your meeting number.\n\n"
        f"Join using Microsoft Lync or Microsoft Skype for Business\nDial {number}.{site}@lync.webex.com\n\n"
        f"If you are a host, click here <https://{site}.webex.com/{site}/j.php?MTID={mtid()}>  to view host information.\n\n"
        "Need help? Go to https://help.webex.com\n"
    )


def goto_text(join: str, meeting_id: str, install: str) -> str:
    return (
        f"{rng.choice(TOPICS)}\n{rng.choice(['Wed', 'Thu', 'Mon'])}, Jun 12, 2024 9:00 AM - 10:00 AM (PDT)\n\n"
        "Please join my meeting from your computer, tablet or smartphone.\n"
        f"{join}\n\n"
        "You can also dial in using your phone.\n(For supported devices, tap a one-touch number below to join instantly.)\n\n"
        f"United States: +1 (571) 317-3122\n- One-touch: tel:+15713173122,,{meeting_id}#\n\n"
        f"Access Code: {meeting_id[:3]}-{meeting_id[3:6]}-{meeting_id[6:]}\n\n"
        "Join from a video-conferencing room or system.\n"
        f"Meeting ID: {meeting_id[:3]} {meeting_id[3:6]} {meeting_id[6:]}\n"
        "Dial in or type: 67.217.95.2 or inroomlink.goto.com\n"
        f"Or dial directly: {meeting_id}@67.217.95.2 or 67.217.95.2##{meeting_id}\n\n"
        f"Get the app now and be ready when your first meeting starts:\n{install}\n"
    )


def chime_text(meeting_id: str) -> str:
    return (
        "Amazon Chime Meeting Invitation\n\n"
        f"{rng.choice(PEOPLE)} is inviting you to an Amazon Chime meeting.\n\n"
        f"Click to join the meeting: https://chime.aws/{meeting_id}\n"
        f"Meeting ID: {meeting_id[:4]} {meeting_id[4:6]} {meeting_id[6:]}\n"
        "A headset is recommended or you may use your computer’s microphone and speakers.\n\n"
        "Call in using your phone:\n"
        f"United States Toll-Free (1): +1 855-552-4463,,,{meeting_id}#\n"
        f"United States (1): +1 206-462-5569,,,{meeting_id}#\n"
        "International: https://chime.aws/dialinnumbers/\n\n"
        "In-room video system\nIntl.: meet.chime.in or 13.248.147.139\n\n"
        "Download Amazon Chime at https://aws.amazon.com/chime/download\n"
    )


def jitsi_text(room_url: str, room: str) -> str:
    return (
        f"Click the following link to join the meeting:\n{room_url}\n\n=====\n\n"
        "Just want to dial in on your phone? \n\n+1.512.647.1431 United States (Toll Free)\n"
        f"PIN: {digits(4)} {digits(4)} {digits(2)}#\n\n"
        "Click this link to see the dial in phone numbers for this meeting\n"
        f"https://meet.jit.si/static/dialInInfo.html?room={room}\n"
    )


def bluejeans_text(meeting_id: str, passcode: str) -> str:
    return (
        f"To join the Meeting:\nhttps://bluejeans.com/{meeting_id}/{passcode}\n\n"
        f"To join via Room System:\nVideo Conferencing System: bjn.vc -or-199.48.152.152\nMeeting ID : {meeting_id}\nParticipant Passcode: {passcode}\n\n"
        "To join via phone :\n1)  Dial:\n\t+1.408.740.7256 (United States(San Jose))\n\t+1.888.240.2560 (US Toll Free)\n"
        f"2)  Enter Meeting ID: {meeting_id}\n3)  Press #\n\n"
        "Want to test your video connection?\nhttps://bluejeans.com/111\n"
    )


def lync_text(url: str) -> str:
    return (
        f"Join Skype Meeting<{url}>\n"
        f"Trouble Joining? Try Skype Web App<{url}?sl=1>\n"
        "Join by phone\n\n+1 (425) 555-0199 (Redmond)                     English (United States)\n\n"
        f"Find a local number<https://dialin.lync.com/{guid()}>\n\nConference ID: {digits(9)}\n"
        "Forgot your dial-in PIN?<https://dialin.lync.com/pstnconferencing> |Help<https://o15.officeredir.microsoft.com/r/rlidLync15?clid=1033&p1=5&p2=2009>\n"
    )


# ---------------------------------------------------------------------------
# Event shells
# ---------------------------------------------------------------------------


def google_event(**fields) -> dict:
    event = {
        "kind": "calendar#event",
        "etag": f'"{digits(16)}"',
        "id": letters(26),
        "status": "confirmed",
        "htmlLink": f"https://www.google.com/calendar/event?eid={alnum(40)}",
        "created": "2024-06-01T16:04:12.000Z",
        "updated": "2024-06-03T09:11:40.512Z",
        "summary": rng.choice(TOPICS),
        "creator": {"email": "jane.doe@example.com"},
        "organizer": {"email": "jane.doe@example.com"},
        "start": {"dateTime": "2024-06-12T10:00:00-07:00", "timeZone": "America/Los_Angeles"},
        "end": {"dateTime": "2024-06-12T10:30:00-07:00", "timeZone": "America/Los_Angeles"},
        "iCalUID": f"{letters(26)}@google.com",
        "sequence": 0,
        "attendees": [
            {"email": "jane.doe@example.com", "organizer": True, "responseStatus": "accepted"},
            {"email": "sam.lee@example.com", "responseStatus": "needsAction"},
        ],
        "reminders": {"useDefault": True},
        "eventType": "default",
    }
    event.update(fields)
    return event


def meet_conference(code: str) -> dict:
    return {
        "entryPoints": [
            {"entryPointType": "video", "uri": f"https://meet.google.com/{code}", "label": f"meet.google.com/{code}"},
            {"entryPointType": "more", "uri": f"https://tel.meet/{code}?pin={digits(13)}", "pin": digits(13)},
            {
                "entryPointType": "phone",
                "uri": "tel:+1-904-330-1060",
                "label": "+1 904-330-1060",
                "pin": digits(9),
                "regionCode": "US",
            },
        ],
        "conferenceSolution": {
            "key": {"type": "hangoutsMeet"},
            "name": "Google Meet",
            "iconUri": "https://fonts.gstatic.com/s/i/productlogos/meet_2020q4/v6/web-512dp/logo_meet_2020q4_color_2x_web_512dp.png",
        },
        "conferenceId": code,
    }


def addon_conference(name: str, video_uri: str, label: str, conference_id: str, phone_uri: str | None = None) -> dict:
    entry_points = [{"entryPointType": "video", "uri": video_uri, "label": label}]
    if phone_uri:
        entry_points.append({"entryPointType": "phone", "uri": phone_uri, "label": phone_uri[4:], "regionCode": "US"})
    return {
        "entryPoints": entry_points,
        "conferenceSolution": {
            "key": {"type": "addOn"},
            "name": name,
            "iconUri": f"https://lh3.googleusercontent.com/{alnum(40)}",
        },
        "conferenceId": conference_id,
        "parameters": {"addOnParameters": {"parameters": {"scriptId": alnum(40), "realMeetingId": conference_id}}},
    }


def graph_event(**fields) -> dict:
    event = {
        "@odata.etag": f'W/"{alnum(28)}=="',
        "id": "AAMkA" + alnum(140),
        "createdDateTime": "2024-06-01T16:04:12.2233445Z",
        "lastModifiedDateTime": "2024-06-03T09:11:40.1122334Z",
        "iCalUId": "040000008200E00074C5B7101A82E008" + digits(60, "0123456789"),
        "subject": rng.choice(TOPICS),
        "bodyPreview": "",
        "importance": "normal",
        "sensitivity": "normal",
        "isAllDay": False,
        "isCancelled": False,
        "isOrganizer": False,
        "showAs": "busy",
        "type": "singleInstance",
        "webLink": f"https://outlook.office365.com/owa/?itemid=AAMkA{alnum(60)}&exvsurl=1&path=/calendar/item",
        "onlineMeetingUrl": None,
        "isOnlineMeeting": False,
        "onlineMeetingProvider": "unknown",
        "start": {"dateTime": "2024-06-12T17:00:00.0000000", "timeZone": "UTC"},
        "end": {"dateTime": "2024-06-12T17:30:00.0000000", "timeZone": "UTC"},
        "location": {
            "displayName": "",
            "locationType": "default",
            "uniqueIdType": "unknown",
            "address": {},
            "coordinates": {},
        },
        "locations": [],
        "organizer": {"emailAddress": {"name": rng.choice(PEOPLE), "address": "organizer@contoso.com"}},
        "onlineMeeting": None,
    }
    event.update(fields)
    return event


def graph_location(display: str, uri: str | None = None) -> dict:
    location = {"displayName": display, "locationType": "default", "uniqueId": display, "uniqueIdType": "private"}
    if uri is not None:
        location["locationUri"] = uri
    return location


def html_body(content: str) -> dict:
    return {"contentType": "html", "content": content}


def text_body(content: str) -> dict:
    return {"contentType": "text", "content": content}


def expect(url: str, platform: str) -> dict:
    return {"url": url, "platform": platform}


# ---------------------------------------------------------------------------
# The corpus
# ---------------------------------------------------------------------------

files: dict[str, list[dict]] = {"google": [], "microsoft": [], "near_misses": [], "wrappers_and_edges": []}


def add(file: str, name: str, provider: str, event: dict, expected: dict | None) -> None:
    files[file].append({"name": name, "provider": provider, "event": event, "expected": expected})


def build_google() -> None:
    for i in range(12):  # native Google Meet
        code = meet_code()
        event = google_event(hangoutLink=f"https://meet.google.com/{code}", conferenceData=meet_conference(code))
        if i % 3 == 1:
            event["location"] = rng.choice(["Conf Room 4B (12)", "HQ-2-Redwood", "Building 40, Room 1120"])
        if i % 4 == 2:
            event["description"] = (
                f"Agenda:<br><ul><li>Roadmap</li><li>Hiring</li></ul>Doc: <a href=\"{google_redirect('https://docs.google.com/document/d/' + alnum(44))}\">planning doc</a>"
            )
        add("google", f"google meet native #{i}", "google", event, expect(f"https://meet.google.com/{code}", "meet"))

    for i in range(3):  # hangoutLink only (older events / partial fields)
        code = meet_code()
        add(
            "google",
            f"google meet hangoutLink only #{i}",
            "google",
            google_event(hangoutLink=f"https://meet.google.com/{code}"),
            expect(f"https://meet.google.com/{code}", "meet"),
        )

    for i in range(12):  # Zoom for Google Workspace add-on
        host, meeting_id, pwd, passcode = zoom_host(), zoom_id(), zoom_pwd(), digits(6)
        url = f"https://{host}/j/{meeting_id}?pwd={pwd}"
        conference = addon_conference(
            "Zoom Meeting", url, f"{host}/j/{meeting_id}?pwd={pwd}", meeting_id, f"tel:+16699006833,,{meeting_id}#"
        )
        conference["entryPoints"][0].update({"meetingCode": meeting_id, "passcode": passcode})
        description = zoom_text(url, meeting_id, passcode, host)
        if i % 2 == 0:  # the add-on writes its text with <br> line breaks
            description = "──────────<br><br>" + description.replace("\n", "<br>") + "<br>──────────"
        event = google_event(conferenceData=conference, location=url, description=description)
        add("google", f"zoom google add-on #{i} ({host})", "google", event, expect(url, "zoom"))

    for i in range(8):  # Zoom link pasted in description (HTML with Google redirects)
        host, meeting_id, pwd, passcode = zoom_host(), zoom_id(), zoom_pwd(), digits(6)
        url = f"https://{host}/j/{meeting_id}?pwd={pwd}"
        body = zoom_html(google_redirect(url), url, meeting_id, passcode, host, wrap=google_redirect)
        add(
            "google",
            f"zoom pasted html with google redirects #{i}",
            "google",
            google_event(description=body),
            expect(url, "zoom"),
        )

    for i in range(6):  # Zoom in location only, mixed with a room
        host, meeting_id = zoom_host(), zoom_id()
        url = f"https://{host}/j/{meeting_id}" + (f"?pwd={zoom_pwd()}" if i % 2 else "")
        location = rng.choice(
            ["{url}", "Conf Room 3; {url}", "{url} (Zoom)", "Zoom: {url}", "HQ 5th floor / {url}"]
        ).format(url=url)
        add("google", f"zoom in location #{i}", "google", google_event(location=location), expect(url, "zoom"))

    for i in range(4):  # Zoom personal links, webinars and ZoomGov
        kind = ["my", "w", "gov", "s"][i]
        if kind == "my":
            url = (
                f"https://{rng.choice(['acme.zoom.us', 'zoom.us'])}/my/{rng.choice(['jane.doe', 'rmehta', 'chen-wei'])}"
            )
        elif kind == "w":
            url = f"https://us06web.zoom.us/w/{zoom_id()}?tk={alnum(43)}.DQMAAAA{alnum(20)}&pwd={zoom_pwd()}"
        elif kind == "gov":
            url = f"https://{rng.choice(['zoomgov.com', 'agency.zoomgov.com'])}/j/{digits(10, '16')}?pwd={zoom_pwd()}"
        else:
            url = f"https://us02web.zoom.us/s/{zoom_id()}?zak={alnum(60)}"
        add(
            "google",
            f"zoom {kind} link in description",
            "google",
            google_event(description=f"Join here:\n{url}\n\nThanks!"),
            expect(url, "zoom"),
        )

    for i in range(6):  # Microsoft Teams add-on for Google Calendar
        url = teams_join()
        conference = addon_conference("Microsoft Teams Meeting", url, "Join Microsoft Teams Meeting", digits(12, "2"))
        event = google_event(
            conferenceData=conference,
            description=teams_html(url, f"{digits(3)} {digits(3)} {digits(3)} {digits(3)}", alnum(6)),
        )
        add("google", f"teams google add-on #{i}", "google", event, expect(url, "teams"))

    for i in range(6):  # Teams invitation forwarded into Google (text with <...> links)
        modern = i % 2 == 0
        url = teams_join() if i < 4 else f"https://teams.microsoft.com/meet/{teams_meet_id()}?p={alnum(16)}"
        event = google_event(
            description=teams_text(url, f"{digits(3)} {digits(3)} {digits(3)} {digits(3)}", alnum(6), modern=modern),
            location="Microsoft Teams Meeting",
        )
        add("google", f"teams text in google description #{i}", "google", event, expect(url, "teams"))

    for i in range(5):  # Webex in Google description
        site = rng.choice(["acme", "contoso", "globex", "meetingsamer12"])
        number = digits(11, "2")
        join = f"https://{site}.webex.com/{site}/j.php?MTID={mtid()}"
        add(
            "google",
            f"webex text in google description #{i}",
            "google",
            google_event(
                description=webex_text(site, join, number),
                location=f"https://{site}.webex.com/{site}/j.php?MTID=" if i == 4 else "",
            ),
            expect(join, "webex"),
        )

    for i in range(3):  # Webex personal room / wbxmjs links
        site = rng.choice(["acme", "contoso", "globex"])
        url = [
            f"https://{site}.webex.com/meet/{rng.choice(['jdoe', 'r.mehta', 'chen.wei'])}",
            f"https://{site}.webex.com/join/{rng.choice(['jdoe', 'amartin'])}",
            f"https://{site}.webex.com/wbxmjs/joinservice/sites/{site}/meeting/download/{alnum(32).lower()}?siteurl={site}&MTID={mtid()}",
        ][i]
        add(
            "google",
            f"webex personal/joinservice #{i}",
            "google",
            google_event(location=url, description="Join from the meeting link"),
            expect(url, "webex"),
        )

    for i in range(4):  # GoTo Meeting
        meeting_id = digits(9)
        join, install = [
            (f"https://meet.goto.com/{meeting_id}", "https://meet.goto.com/install"),
            (
                f"https://global.gotomeeting.com/join/{meeting_id}",
                f"https://global.gotomeeting.com/install/{meeting_id}",
            ),
            (f"https://app.goto.com/meeting/{meeting_id}", "https://meet.goto.com/install"),
            (f"https://meet.goto.com/{meeting_id}", "https://meet.goto.com/install"),
        ][i]
        add(
            "google",
            f"goto meeting #{i}",
            "google",
            google_event(description=goto_text(join, meeting_id, install)),
            expect(join, "goto"),
        )

    for i in range(3):  # Amazon Chime
        meeting_id = digits(10)
        add(
            "google",
            f"chime #{i}",
            "google",
            google_event(description=chime_text(meeting_id)),
            expect(f"https://chime.aws/{meeting_id}", "chime"),
        )

    for i, room in enumerate(["team-standup", "acme-design", "hiring-panel"]):  # Whereby
        url = f"https://whereby.com/{room}" if i < 2 else f"https://acme.whereby.com/{room}"
        add(
            "google",
            f"whereby #{i}",
            "google",
            google_event(location=url if i == 0 else "", description=f"Join the meeting: {url}"),
            expect(url, "whereby"),
        )

    for i, room in enumerate(
        ["WeeklySyncRoom42", "OpenSourceOfficeHours", "vpaas-magic-cookie-1f2e3d4c5b6a/Standup"]
    ):  # Jitsi
        url = f"https://meet.jit.si/{room}" if i < 2 else f"https://8x8.vc/{room}"
        add(
            "google",
            f"jitsi #{i}",
            "google",
            google_event(description=jitsi_text(url, room.split("/")[-1])),
            expect(url, "jitsi"),
        )

    meeting_id, passcode = digits(9), digits(4)
    add(
        "google",
        "bluejeans",
        "google",
        google_event(description=bluejeans_text(meeting_id, passcode)),
        expect(f"https://bluejeans.com/{meeting_id}/{passcode}", "other"),
    )
    add(
        "google",
        "around",
        "google",
        google_event(location="https://meet.around.co/r/design-crit"),
        expect("https://meet.around.co/r/design-crit", "other"),
    )
    url = f"https://meet.lync.com/contoso/jdoe/{alnum(8).upper()}"
    add(
        "google",
        "skype for business forwarded",
        "google",
        google_event(description=lync_text(url)),
        expect(url, "other"),
    )
    url = f"https://join.skype.com/{alnum(12)}"
    add("google", "skype consumer", "google", google_event(description=f"Skype call: {url}"), expect(url, "other"))
    url = f"https://v.ringcentral.com/join/{digits(9)}"
    add(
        "google",
        "ringcentral video",
        "google",
        google_event(description=f"Join RingCentral Video meeting\n{url}\nDial in: +1 650-558-0000"),
        expect(url, "other"),
    )

    # Priorities: the conference field beats links elsewhere.
    code = meet_code()
    zoom_url = f"https://zoom.us/j/{zoom_id()}?pwd={zoom_pwd()}"
    add("google", "meet conference beats zoom in description", "google",
        google_event(hangoutLink=f"https://meet.google.com/{code}", conferenceData=meet_conference(code), description=f"Backup Zoom: {zoom_url}"),
        expect(f"https://meet.google.com/{code}", "meet"))  # fmt: skip
    code = meet_code()
    zoom_url = f"https://us02web.zoom.us/j/{zoom_id()}"
    add("google", "zoom location beats meet link in description", "google",
        google_event(location=zoom_url, description=f"(old link, ignore) https://meet.google.com/{code}"),
        expect(zoom_url, "zoom"))  # fmt: skip
    meeting_id, pwd = zoom_id(), zoom_pwd()
    add("google", "location without pwd, description with pwd of same meeting", "google",
        google_event(location=f"https://us02web.zoom.us/j/{meeting_id}", description=zoom_text(f"https://us02web.zoom.us/j/{meeting_id}?pwd={pwd}", meeting_id, digits(6), "us02web.zoom.us")),
        expect(f"https://us02web.zoom.us/j/{meeting_id}?pwd={pwd}", "zoom"))  # fmt: skip
    meeting_id, pwd = zoom_id(), zoom_pwd()
    add("google", "description: bare link first, link with pwd later", "google",
        google_event(description=f"Zoom: https://zoom.us/j/{meeting_id}\n\nFull invite:\nhttps://zoom.us/j/{meeting_id}?pwd={pwd}\n"),
        expect(f"https://zoom.us/j/{meeting_id}?pwd={pwd}", "zoom"))  # fmt: skip
    first, second = f"https://zoom.us/j/{zoom_id()}", f"https://zoom.us/j/{zoom_id()}"
    add(
        "google",
        "two different zoom meetings: first one",
        "google",
        google_event(description=f"Today: {first}\nNext week: {second}"),
        expect(first, "zoom"),
    )
    code = meet_code()
    add(
        "google",
        "scheme-less meet in location",
        "google",
        google_event(location=f"meet.google.com/{code}"),
        expect(f"https://meet.google.com/{code}", "meet"),
    )
    meeting_id = zoom_id()
    add(
        "google",
        "scheme-less zoom in description",
        "google",
        google_event(description=f"zoom: us02web.zoom.us/j/{meeting_id} - see you there"),
        expect(f"https://us02web.zoom.us/j/{meeting_id}", "zoom"),
    )
    code = meet_code()
    add(
        "google",
        "meet link in title",
        "google",
        google_event(summary=f"Standup https://meet.google.com/{code}"),
        expect(f"https://meet.google.com/{code}", "meet"),
    )


def build_microsoft() -> None:
    for i in range(12):  # Teams meeting created in Outlook
        modern = i % 2 == 0
        code, passcode = f"{digits(3)} {digits(3)} {digits(3)} {digits(3)}", alnum(6)
        url = teams_join()
        wrap = safelink if i % 3 == 0 else (lambda u: u)
        href = wrap(url)
        event = graph_event(
            isOnlineMeeting=True,
            onlineMeetingProvider="teamsForBusiness",
            onlineMeeting={"joinUrl": url},
            location=graph_location("Microsoft Teams Meeting"),
            locations=[graph_location("Microsoft Teams Meeting")],
            body=html_body(teams_html(href, code, passcode, wrap=wrap, modern=modern)),
            bodyPreview=teams_preview(code, passcode),
        )
        add("microsoft", f"teams outlook onlineMeeting #{i}", "microsoft", event, expect(url, "teams"))

    for i in range(8):  # Teams: body only (e.g. received invitation; onlineMeeting not populated)
        code, passcode = f"{digits(3)} {digits(3)} {digits(3)} {digits(3)}", alnum(6)
        url = teams_join() if i < 5 else f"https://teams.microsoft.com/meet/{teams_meet_id()}?p={alnum(16)}"
        wrap = safelink if i % 2 == 0 else (lambda u: u)
        body = (
            html_body(teams_html(wrap(url), code, passcode, wrap=wrap, modern=i % 3 != 1))
            if i % 4 != 3
            else text_body(teams_text(url, code, passcode, modern=i % 2 == 0))
        )
        event = graph_event(
            location=graph_location("Microsoft Teams Meeting"), body=body, bodyPreview=teams_preview(code, passcode)
        )
        add("microsoft", f"teams body only #{i}", "microsoft", event, expect(url, "teams"))

    for i, host in enumerate(
        ["gcc.teams.microsoft.us", "dod.teams.microsoft.us", "teams.microsoft.us", "gov.teams.microsoft.us"]
    ):
        url = teams_join(host)
        event = graph_event(
            isOnlineMeeting=True,
            onlineMeetingProvider="teamsForBusiness",
            onlineMeeting={"joinUrl": url},
            body=html_body(teams_html(url, f"{digits(3)} {digits(3)} {digits(3)}", alnum(6))),
        )
        add("microsoft", f"teams government cloud {host}", "microsoft", event, expect(url, "teams"))

    for i in range(3):  # Teams free / consumer
        url = f"https://teams.live.com/meet/{digits(13, '9')}?p={alnum(16)}"
        event = graph_event(
            isOnlineMeeting=True,
            onlineMeetingProvider="teamsForBusiness",
            onlineMeeting={"joinUrl": url},
            body=html_body(f'<div><a href="{esc(url)}">Join the meeting now</a></div>'),
        )
        add("microsoft", f"teams live meet #{i}", "microsoft", event, expect(url, "teams"))

    for i in range(10):  # Zoom for Outlook add-in: location + HTML body, often SafeLinks
        host, meeting_id, pwd, passcode = zoom_host(), zoom_id(), zoom_pwd(), digits(6)
        url = f"https://{host}/j/{meeting_id}?pwd={pwd}"
        wrap = safelink if i % 2 == 0 else (lambda u: u)
        location = graph_location(url) if i % 3 != 2 else graph_location("Zoom Meeting")
        event = graph_event(
            location=location,
            locations=[location],
            body=html_body(zoom_html(wrap(url), url, meeting_id, passcode, host, wrap=wrap)),
        )
        add("microsoft", f"zoom outlook add-in #{i}", "microsoft", event, expect(url, "zoom"))

    for i in range(4):  # Zoom text body
        host, meeting_id, pwd, passcode = zoom_host(), zoom_id(), zoom_pwd(), digits(6)
        url = f"https://{host}/j/{meeting_id}?pwd={pwd}"
        event = graph_event(
            body=text_body(zoom_text(url, meeting_id, passcode, host)),
            bodyPreview=zoom_text(url, meeting_id, passcode, host)[:255],
        )
        add("microsoft", f"zoom text body #{i}", "microsoft", event, expect(url, "zoom"))

    for i in range(5):  # Webex Productivity Tools for Outlook
        site = rng.choice(["acme", "contoso", "globex"])
        number = digits(11, "2")
        join = f"https://{site}.webex.com/{site}/j.php?MTID={mtid()}"
        content = webex_text(site, join, number)
        body = (
            text_body(content)
            if i % 2
            else html_body(
                "<html><body><div>"
                + content.replace("<", "&lt;").replace(">", "&gt;").replace("\n", "<br>\n")
                + "</div></body></html>"
            )
        )
        event = graph_event(location=graph_location(join if i == 0 else ""), body=body)
        add("microsoft", f"webex outlook #{i}", "microsoft", event, expect(join, "webex"))

    for i in range(3):  # Legacy Skype for Business online meetings
        url = f"https://meet.lync.com/contoso/{rng.choice(['jdoe', 'rmehta'])}/{alnum(8).upper()}"
        event = graph_event(
            onlineMeetingUrl=url,
            isOnlineMeeting=True,
            onlineMeetingProvider="skypeForBusiness",
            body=text_body(lync_text(url)),
        )
        add("microsoft", f"skype for business onlineMeetingUrl #{i}", "microsoft", event, expect(url, "other"))

    for i in range(4):  # Meeting links in locations[] or locationUri
        code = meet_code()
        url = [
            f"https://meet.google.com/{code}",
            f"https://whereby.com/{letters(7)}",
            f"https://chime.aws/{digits(10)}",
            f"https://meet.goto.com/{digits(9)}",
        ][i]
        platform = ["meet", "whereby", "chime", "goto"][i]
        event = graph_event(
            location=graph_location("Room 12; online"),
            locations=[graph_location("Room 12"), graph_location("Online", uri=url)],
        )
        add("microsoft", f"link in locations[].locationUri #{i}", "microsoft", event, expect(url, platform))

    for i in range(3):  # bodyPreview only (body missing from a $select)
        meeting_id = zoom_id()
        url = f"https://us02web.zoom.us/j/{meeting_id}"
        event = graph_event(
            bodyPreview=f"Hi all, quick sync on the launch. Join Zoom Meeting {url} Meeting ID: {spaced_zoom_id(meeting_id)}"
        )
        event.pop("body", None)
        add("microsoft", f"bodyPreview only #{i}", "microsoft", event, expect(url, "zoom"))

    # Priorities on Graph: onlineMeeting beats a pasted link.
    teams_url = teams_join()
    zoom_url = f"https://zoom.us/j/{zoom_id()}?pwd={zoom_pwd()}"
    add("microsoft", "onlineMeeting beats zoom link in body", "microsoft",
        graph_event(isOnlineMeeting=True, onlineMeetingProvider="teamsForBusiness", onlineMeeting={"joinUrl": teams_url},
                    body=html_body(f'<p>If Teams fails use Zoom: <a href="{esc(zoom_url)}">{esc(zoom_url)}</a></p>' + teams_html(teams_url, "1", "x"))),
        expect(teams_url, "teams"))  # fmt: skip
    zoom_url = f"https://acme.zoom.us/j/{zoom_id()}?pwd={zoom_pwd()}"
    add("microsoft", "zoom location beats teams options link in body", "microsoft",
        graph_event(location=graph_location(zoom_url), body=html_body(f'<a href="https://teams.microsoft.com/meetingOptions/?organizerId={guid()}">Meeting options</a>')),
        expect(zoom_url, "zoom"))  # fmt: skip
    url = teams_join()
    add(
        "microsoft", "teams link in subject only", "microsoft", graph_event(subject=f"Sync {url}"), expect(url, "teams")
    )


def build_near_misses() -> None:
    rooms = [
        "Conf Room 4B (12)",
        "HQ-2-Redwood [VC]",
        "Building 40, Room 1120",
        "Cafe downstairs",
        "123 Main St, Springfield",
        "Zoom Room 5 (capacity 8)",
    ]
    for i, room in enumerate(rooms):
        add(
            "near_misses",
            f"physical room google #{i}",
            "google",
            google_event(location=room, description="In person. Bring laptops."),
            None,
        )
        add(
            "near_misses",
            f"physical room graph #{i}",
            "microsoft",
            graph_event(location=graph_location(room), body=html_body(f"<p>In person in {room}</p>")),
            None,
        )

    dial_only = [
        "Dial-in: +1 (646) 558-8656, Meeting ID 855 1234 5678#, Passcode 123456",
        "Conference line: 1-877-555-0199 PIN 4455#\nInternational: +44 20 3481 5240",
        "Call me on +1 415 555 0134",
        "Please dial 800-555-0000 and use access code 123-456-789.",
    ]
    for i, text in enumerate(dial_only):
        add("near_misses", f"dial-in only google #{i}", "google", google_event(description=text), None)
        add("near_misses", f"dial-in only graph #{i}", "microsoft", graph_event(body=text_body(text)), None)

    help_links = [
        "Please install Zoom before the call: https://zoom.us/download",
        "Test your audio first: https://zoom.us/test",
        "Zoom help: https://support.zoom.us/hc/en-us/articles/201362193-Joining-a-meeting",
        "Find your local number: https://us02web.zoom.us/u/kbXyZ12Ab",
        "Recording of last week: https://us02web.zoom.us/rec/share/" + alnum(40),
        "Register here: https://us06web.zoom.us/meeting/register/tZ" + alnum(30),
        "Need help? https://aka.ms/JoinTeamsMeeting?omkt=en-US",
        "Meeting options<https://teams.microsoft.com/meetingOptions/?organizerId="
        + guid()
        + "&tenantId="
        + guid()
        + ">",
        "Learn more: https://go.microsoft.com/fwlink/?linkid=2149154",
        "Download Teams<https://www.microsoft.com/en-us/microsoft-teams/download-app>",
        "How to join: https://support.google.com/meet/answer/9303069",
        "Google Meet: meet.google.com",
        "Start a meeting at https://meet.google.com/ when ready",
        "Nickname lookup: https://meet.google.com/lookup/teamsync",
        "https://meet.google.com/_meet/whoa?hs=0",
        "Get the app: https://meet.goto.com/install",
        "https://global.gotomeeting.com/install/123456789",
        "Download Chime: https://chime.aws/download and numbers https://chime.aws/dialinnumbers/",
        "Webex help: https://help.webex.com/en-us/article/n62wi3c/Join-a-Webex-meeting",
        "Dial-in numbers: https://acme.webex.com/acme/globalcallin.php?MTID=" + mtid(),
        "Recording: https://acme.webex.com/acme/ldr.php?RCID=" + alnum(32),
        "Whereby pricing: https://whereby.com/information/pricing/",
        "Dial-in numbers: https://meet.jit.si/static/dialInInfo.html?room=Foo",
        "Chat with me: https://teams.microsoft.com/l/chat/0/0?users=jane@contoso.com",
        "Channel: https://teams.microsoft.com/l/channel/19%3a"
        + alnum(32)
        + "%40thread.tacv2/General?groupId="
        + guid(),
        "Video test: https://bluejeans.com/111",
        "Zoom meeting link to follow.",
        "Email jane@zoom.us or call.",
        "https://zoom.us/j/ (link coming)",
        "Teams dial-in: https://dialin.teams.microsoft.com/usp/pstnconferencing",
    ]
    for i, text in enumerate(help_links):
        provider = "google" if i % 2 == 0 else "microsoft"
        event = google_event(description=text) if provider == "google" else graph_event(body=text_body(text))
        add("near_misses", f"help/download/non-join link #{i}: {text[:40]}", provider, event, None)

    lookalikes = [
        "https://zoom.us.evil.example/j/85512345678?pwd=abc",
        "https://evilzoom.us/j/85512345678",
        "https://meet.google.com.attacker.io/abc-defg-hij",
        "https://teams.microsoft.com.phish.example/l/meetup-join/19%3ameeting_abc%40thread.v2/0",
        "https://zoom-us.com/j/85512345678",
        "https://webex.com.evil.example/meet/jdoe",
        "https://zoom.us@evil.example/j/85512345678",
        "https://meet-google.com/abc-defg-hij",
        "https://whereby.com.evil.example/room",
        "https://xn--zom-xmc.us/j/85512345678",
    ]
    for i, url in enumerate(lookalikes):
        provider = "google" if i % 2 == 0 else "microsoft"
        event = (
            google_event(description=f"Join: {url}", location=url)
            if provider == "google"
            else graph_event(location=graph_location(url), body=html_body(f'<a href="{esc(url)}">Join</a>'))
        )
        add("near_misses", f"look-alike host #{i}: {url[:40]}", provider, event, None)

    # A Teams invitation stripped of its join link still has help/options/dial-in links.
    options_only = teams_html("https://aka.ms/JoinTeamsMeeting", "", "").replace("Join the meeting now", "Need help?")
    add(
        "near_misses",
        "teams boilerplate without join link",
        "microsoft",
        graph_event(body=html_body(options_only)),
        None,
    )
    # Near-misses next to a real link: the real one wins.
    meeting_id = zoom_id()
    real = f"https://us02web.zoom.us/j/{meeting_id}?pwd={zoom_pwd()}"
    add("near_misses", "download link before real zoom link", "google",
        google_event(description=f"First install Zoom (https://zoom.us/download), then join: {real}."), expect(real, "zoom"))  # fmt: skip
    real = teams_join()
    add("near_misses", "meeting options before real teams link", "microsoft",
        graph_event(body=text_body(f"Meeting options<https://teams.microsoft.com/meetingOptions/?organizerId={guid()}>\nJoin<{real}>")), expect(real, "teams"))  # fmt: skip
    code = meet_code()
    add("near_misses", "meet help then real meet link", "google",
        google_event(description=f"Help: https://support.google.com/meet\nLink: https://meet.google.com/{code}"), expect(f"https://meet.google.com/{code}", "meet"))  # fmt: skip
    add("near_misses", "look-alike then real", "google",
        google_event(description=f"Spam https://meet.google.com.attacker.io/{code} real https://meet.google.com/{code}"), expect(f"https://meet.google.com/{code}", "meet"))  # fmt: skip
    add("near_misses", "cancelled-less empty event", "google", google_event(), None)
    add("near_misses", "empty graph event", "microsoft", graph_event(), None)


def build_wrappers_and_edges() -> None:
    # SafeLinks, nested SafeLinks, Google redirect around SafeLinks, Proofpoint.
    url = f"https://us02web.zoom.us/j/{zoom_id()}?pwd={zoom_pwd()}"
    add(
        "wrappers_and_edges",
        "safelinks zoom in text body",
        "microsoft",
        graph_event(body=text_body(f"Join Zoom Meeting\n{safelink(url)}\n")),
        expect(url, "zoom"),
    )
    url = teams_join()
    add(
        "wrappers_and_edges",
        "nested safelinks teams",
        "microsoft",
        graph_event(body=html_body(f'<a href="{esc(safelink(safelink(url)))}">Join</a>')),
        expect(url, "teams"),
    )
    url = f"https://meet.google.com/{meet_code()}"
    add(
        "wrappers_and_edges",
        "google redirect around safelinks",
        "google",
        google_event(description=f'<a href="{esc(google_redirect(safelink(url)))}">Join</a>'),
        expect(url, "meet"),
    )
    url = f"https://zoom.us/j/{zoom_id()}?pwd={zoom_pwd()}"
    pp = (
        "https://urldefense.proofpoint.com/v2/url?u="
        + url.replace("-", "-2D")
        .replace("_", "-5F")
        .replace(":", "-3A")
        .replace("?", "-3F")
        .replace("=", "-3D")
        .replace("/", "_")
        + "&d=DwMFaQ&c=euGZstcaTDllvimEN8b7jXrwqOf-v5A_CdpgnVfiiMM&r=abc&m=def&s=ghi&e="
    )
    add(
        "wrappers_and_edges",
        "proofpoint v2 zoom",
        "google",
        google_event(description=f"Join: {pp}"),
        expect(url, "zoom"),
    )
    url = f"https://acme.webex.com/acme/j.php?MTID={mtid()}"
    add(
        "wrappers_and_edges",
        "proofpoint v3 webex",
        "microsoft",
        graph_event(body=text_body(f"Join <https://urldefense.com/v3/__{url}__;!!ABCdef!GhIjKlMn$ >")),
        expect(url, "webex"),
    )
    url = f"https://teams.microsoft.com/l/meetup-join/{teams_thread()}/0?context={teams_context(guid(), guid())}"
    statics = f"https://statics.teams.cdn.office.net/evergreen-assets/safelinks/1/atp-safelinks.html?url={quote(url, safe='')}&locale=en-us&dest=https%3A%2F%2Fteams.microsoft.com"
    add(
        "wrappers_and_edges",
        "teams safelinks page",
        "microsoft",
        graph_event(body=html_body(f'<a href="{esc(statics)}">Join</a>')),
        expect(url, "teams"),
    )

    # Entities, anchors, punctuation, brackets.
    meeting_id, pwd = zoom_id(), zoom_pwd()
    url = f"https://zoom.us/j/{meeting_id}?pwd={pwd}&uname=Guest"
    add(
        "wrappers_and_edges",
        "html entity &amp; in href",
        "google",
        google_event(description=f'<a href="{esc(url)}">Click to join</a>'),
        expect(url, "zoom"),
    )
    add("wrappers_and_edges", "href with pwd, visible text without", "microsoft",
        graph_event(body=html_body(f'<a href="https://zoom.us/j/{meeting_id}?pwd={pwd}">https://zoom.us/j/{meeting_id}</a>')), expect(f"https://zoom.us/j/{meeting_id}?pwd={pwd}", "zoom"))  # fmt: skip
    for i, pattern in enumerate(
        [
            "Join at {u}.",
            "({u})",
            "Link: <{u}>",
            "[{u}]",
            "{u}, then dial in",
            "Join here:{u}!",
            '"{u}"',
            "Link — {u}; thanks",
            "*{u}*",
            "«{u}»",
            "Join {u}), ok",
        ]
    ):
        code = meet_code()
        url = f"https://meet.google.com/{code}"
        add(
            "wrappers_and_edges",
            f"punctuation around link #{i}: {pattern}",
            "google",
            google_event(description=pattern.format(u=url)),
            expect(url, "meet"),
        )
    url = f"https://us02web.zoom.us/j/{zoom_id()}?pwd={alnum(32)}.1"
    add(
        "wrappers_and_edges",
        "zoom pwd ending .1 followed by period",
        "google",
        google_event(description=f"Join us at {url}."),
        expect(url, "zoom"),
    )
    url = teams_join()
    add(
        "wrappers_and_edges",
        "html-to-text glued word before scheme",
        "microsoft",
        graph_event(body=text_body(f"Join the meeting now{url} Meeting ID: 123")),
        expect(url, "teams"),
    )
    url = f"https://us02web.zoom.us/j/{zoom_id()}?pwd={zoom_pwd()}"
    add(
        "wrappers_and_edges",
        "slack-style <url|label>",
        "google",
        google_event(description=f"<{url}|Join Zoom>"),
        expect(url, "zoom"),
    )
    add(
        "wrappers_and_edges",
        "markdown link",
        "google",
        google_event(description=f"[Join Zoom]({url})"),
        expect(url, "zoom"),
    )

    # Raw (unencoded) Teams link, and line-wrapped bodies.
    thread = base64.b64encode(guid().encode()).decode().rstrip("=")
    raw = f'https://teams.microsoft.com/l/meetup-join/19:meeting_{thread}@thread.v2/0?context={{"Tid":"{guid()}","Oid":"{guid()}"}}'
    add(
        "wrappers_and_edges",
        "raw unencoded teams link",
        "google",
        google_event(description=f"Join Teams meeting: {raw}\nMeeting ID: 123"),
        expect(raw, "teams"),
    )
    url = teams_join()
    wrapped = "\r\n".join(url[i : i + 70] for i in range(0, len(url), 70))
    add(
        "wrappers_and_edges",
        "teams link wrapped inside <...>",
        "microsoft",
        graph_event(body=text_body(f"Click here to join the meeting<{wrapped}>\r\nMeeting ID: 1")),
        expect(url, "teams"),
    )
    url = teams_join()
    text = f"Microsoft Teams meeting\nJoin on your computer or mobile app\nClick here to join the meeting: {url}\nMeeting ID: 272 011 849 478\n"
    hard = "\n".join(line[i : i + 76] for line in text.split("\n") for i in range(0, max(len(line), 1), 76))
    add(
        "wrappers_and_edges",
        "teams link hard-wrapped at 76",
        "google",
        google_event(description=hard),
        expect(url, "teams"),
    )
    meeting_id, pwd = digits(11, "8"), base64.b64encode(alnum(24).encode()).decode()
    url = f"https://us02web.zoom.us/j/{meeting_id}?pwd={pwd}"
    line = f"Join Zoom Meeting: {url}"
    add("wrappers_and_edges", "zoom link hard-wrapped at 72", "microsoft",
        graph_event(body=text_body(line[:72] + "\n" + line[72:] + "\n\nMeeting ID: " + spaced_zoom_id(meeting_id))), expect(url, "zoom"))  # fmt: skip
    url = f"https://us02web.zoom.us/j/{zoom_id()}?pwd={zoom_pwd()}"
    add(
        "wrappers_and_edges",
        "zoom link at line end followed by label",
        "google",
        google_event(description=f"Join Zoom Meeting - long line of text before the link {url}\nMeeting ID: 123\n"),
        expect(url, "zoom"),
    )

    # Other Zoom / Teams / Meet URL forms.
    meeting_id, pwd = zoom_id(), zoom_pwd()
    add("wrappers_and_edges", "zoommtg desktop link", "google",
        google_event(description=f"zoommtg://zoom.us/join?action=join&confno={meeting_id}&pwd={pwd}"), expect(f"https://zoom.us/j/{meeting_id}?pwd={pwd}", "zoom"))  # fmt: skip
    url = f"https://app.zoom.us/wc/{zoom_id()}/join?fromPWA=1&pwd={zoom_pwd()}"
    add("wrappers_and_edges", "zoom web client link", "google", google_event(description=url), expect(url, "zoom"))
    meeting_id = zoom_id()
    add(
        "wrappers_and_edges",
        "zoom http and upper-case host",
        "google",
        google_event(location=f"HTTP://US02WEB.ZOOM.US/j/{meeting_id}"),
        expect(f"https://us02web.zoom.us/j/{meeting_id}", "zoom"),
    )
    meeting_id = zoom_id()
    add("wrappers_and_edges", "zoom with tracking params", "google",
        google_event(description=f"https://zoom.us/j/{meeting_id}?pwd=abc123&utm_source=newsletter&utm_medium=email"), expect(f"https://zoom.us/j/{meeting_id}?pwd=abc123", "zoom"))  # fmt: skip
    url = f"https://zoom.com/j/{zoom_id()}"
    add(
        "wrappers_and_edges",
        "zoom.com host",
        "microsoft",
        graph_event(location=graph_location(url)),
        expect(url, "zoom"),
    )
    code = meet_code()
    add(
        "wrappers_and_edges",
        "meet with authuser",
        "google",
        google_event(description=f"https://meet.google.com/{code}?authuser=0"),
        expect(f"https://meet.google.com/{code}?authuser=0", "meet"),
    )
    thread = teams_thread()
    inner = f"/_#/l/meetup-join/{thread}/0?context={teams_context(guid(), guid())}&anon=true"
    launcher = f"https://teams.microsoft.com/dl/launcher/launcher.html?url={quote(inner, safe='')}&type=meetup-join&deeplinkId={guid()}&directDl=true&msLaunch=true&enableMobilePage=true&suppressPrompt=true"
    add(
        "wrappers_and_edges",
        "teams launcher page",
        "microsoft",
        graph_event(body=html_body(f'<a href="{esc(launcher)}">Join</a>')),
        expect("https://teams.microsoft.com" + inner[3:], "teams"),
    )
    url = f"https://teams.cloud.microsoft/meet/{teams_meet_id()}?p={alnum(16)}"
    add(
        "wrappers_and_edges",
        "teams.cloud.microsoft host",
        "microsoft",
        graph_event(isOnlineMeeting=True, onlineMeeting={"joinUrl": url}),
        expect(url, "teams"),
    )
    url = f"https://app.chime.aws/meetings/?pin={digits(10)}"
    add(
        "wrappers_and_edges",
        "chime app pin link",
        "google",
        google_event(description=f"Join Chime: {url}"),
        expect(url, "chime"),
    )
    url = f"https://gotomeet.me/{rng.choice(['JaneDoe', 'acme-sales'])}"
    add("wrappers_and_edges", "goto personal room", "google", google_event(location=url), expect(url, "goto"))

    # Robustness: missing fields, None values, wrong types.
    code = meet_code()
    add(
        "wrappers_and_edges",
        "all fields None",
        "google",
        {"location": None, "description": None, "conferenceData": None, "hangoutLink": None},
        None,
    )
    add(
        "wrappers_and_edges",
        "graph None body and onlineMeeting",
        "microsoft",
        {"body": None, "onlineMeeting": {"joinUrl": None}, "location": None, "locations": None},
        None,
    )
    add(
        "wrappers_and_edges",
        "wrong types everywhere",
        "google",
        {"conferenceData": "meet", "hangoutLink": 42, "location": ["a"], "description": {"x": 1}},
        None,
    )
    add("wrappers_and_edges", "conferenceData entryPoints not a list", "google",
        {"conferenceData": {"entryPoints": {"entryPointType": "video"}}, "description": f"https://meet.google.com/{code}"}, expect(f"https://meet.google.com/{code}", "meet"))  # fmt: skip
    code = meet_code()
    add("wrappers_and_edges", "pending createRequest, link in hangoutLink", "google",
        {"conferenceData": {"createRequest": {"requestId": "x", "status": {"statusCode": "pending"}}}, "hangoutLink": f"https://meet.google.com/{code}"}, expect(f"https://meet.google.com/{code}", "meet"))  # fmt: skip
    url = f"https://us02web.zoom.us/j/{zoom_id()}"
    add("wrappers_and_edges", "graph body as plain string", "microsoft", {"body": f"join {url}"}, expect(url, "zoom"))
    url = f"https://zoom.us/j/{zoom_id()}"
    add(
        "wrappers_and_edges",
        "broken html",
        "google",
        google_event(description=f'<div><a href="{url}" <b>join</a</div><<<>>>&&amp;;'),
        expect(url, "zoom"),
    )
    url = f"https://vc.example-video.com/room/{digits(8)}"
    add("wrappers_and_edges", "unknown provider in conference add-on", "google",
        google_event(conferenceData=addon_conference("Example Video", url, "Join", "1")), expect(url, "other"))  # fmt: skip
    url = f"https://meet.google.com/{meet_code()}"
    big = ("Lorem ipsum dolor sit amet, consectetur adipiscing elit. " * 800) + url
    add(
        "wrappers_and_edges",
        "link at the end of a 45 KB body",
        "google",
        google_event(description=big),
        expect(url, "meet"),
    )

    # Graph's bodyPreview is cut at 255 characters: a link cut there is not joinable.
    meeting_id = zoom_id()
    filler = "Hi all, agenda below: roadmap, hiring, budget, open questions from last week. " * 2
    preview = filler + f"Join Zoom Meeting https://us02web.zoom.us/j/{meeting_id[:6]}"  # cut at 255 chars
    assert len(preview) <= 255
    event = graph_event(bodyPreview=preview)
    event.pop("body", None)
    add("wrappers_and_edges", "bodyPreview ends in a cut-off zoom link", "microsoft", event, None)
    url = teams_join()
    event = graph_event(bodyPreview=f"Sync. Join: {url[:80]}")
    event.pop("body", None)
    add("wrappers_and_edges", "bodyPreview ends in a cut-off teams thread id", "microsoft", event, None)
    url = teams_join()
    cut = url[: url.index("%2c%22Oid")]
    add(
        "wrappers_and_edges",
        "teams link with cut-off context still joins",
        "google",
        google_event(location=cut),
        expect(cut, "teams"),
    )
    meeting_id = zoom_id()
    url = f"https://us02web.zoom.us/j/{meeting_id}?pwd={zoom_pwd()}"
    event = graph_event(
        location=graph_location("Zoom"), bodyPreview=f"Join Zoom Meeting https://us02web.zoom.us/j/{meeting_id[:5]}"
    )
    event["body"] = text_body(f"Join Zoom Meeting {url}\nMeeting ID: {spaced_zoom_id(meeting_id)}")
    add("wrappers_and_edges", "full link in body, cut-off one in preview", "microsoft", event, expect(url, "zoom"))


def main() -> None:
    build_google()
    build_microsoft()
    build_near_misses()
    build_wrappers_and_edges()
    total = 0
    for name, rows in files.items():
        with open(HERE / f"{name}.jsonl", "w", encoding="utf-8") as handle:
            for row in rows:
                handle.write(json.dumps(row, ensure_ascii=False) + "\n")
        total += len(rows)
        print(f"{name}.jsonl: {len(rows)} events")
    print(f"total: {total}")


if __name__ == "__main__":
    main()
