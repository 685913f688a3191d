"""The chain feed's pure logic: heads and logs from unreliable WebSocket streams, delivered in order, once.

No actors and no I/O: `ChainFeed` takes what the streams and the HTTP backfill produced and returns
what to deliver and what to fetch. The subscription manager actor is its thin shell.
"""

from chainfeed.feed import ChainFeed, EmitHead, EmitLog, EmitReorg, FeedAction, FetchHeaders, FetchLogs

__all__ = ["ChainFeed", "EmitHead", "EmitLog", "EmitReorg", "FeedAction", "FetchHeaders", "FetchLogs"]
