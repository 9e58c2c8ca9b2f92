"""Reports (I1/I3): delivery, response, opt-out and click rates per campaign, automation and topic; CSAT, response times."""
