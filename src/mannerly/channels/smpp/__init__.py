"""SMPP v3.4 channel: PDU codec, ESME session, adapter and the `mannerly smsc-sim` simulator."""
