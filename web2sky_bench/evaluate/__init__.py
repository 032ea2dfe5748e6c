"""The standard harness: protocol web2sky-v1, metrics, leaderboard entries, submissions."""
