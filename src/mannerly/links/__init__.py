"""Tracked links (O8): one short code per recipient on the business's own domain, redirects and clicks."""
