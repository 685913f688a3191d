"""The live status page: the bot's own dashboard in a browser, served on loopback behind the console's token.

view.py is the page's content as a pure function of the published snapshots; gather.py reads them from
the running bot; server.py serves the page, its server-sent event stream and the emergency-stop button;
actor.py runs the server as a supervised child; page.html is the self-contained page (no CDN, vanilla JS,
charts in inline SVG).
"""
