#!/usr/bin/perl
# An independent SMSC for interoperability tests: Debian's Net::SMPP (libnet-smpp-perl) in server role.
# Listens on 127.0.0.1 with an OS-assigned port (printed as "PORT <n>"), serves one ESME:
# answers bind_transceiver, enquire_link and unbind; answers submit_sm with an upper-case hex
# message id, then sends a delivery receipt writing the same id in DECIMAL (text and TLVs)
# and, for the first submit, a customer reply ("Reply from Net::SMPP").
use strict;
use warnings;
use Net::SMPP;

$| = 1;
my $server = Net::SMPP->new_listen('127.0.0.1', port => 0, smpp_version => 0x34) or die "listen: $!";
print "PORT ", $server->sockport, "\n";
my $conn;
$conn = $server->accept until defined $conn;
$conn->set_version(0x34);
my $next_id = 0xBC614E;
my $replied = 0;
while (1) {
    my $pdu = $conn->read_pdu() or last;
    my $cmd = $pdu->{cmd};
    if ($cmd == 0x00000009) {
        my $ok = $pdu->{system_id} eq 'acme' && $pdu->{password} eq 'secret';
        $conn->bind_transceiver_resp(system_id => 'NETSMPP', seq => $pdu->{seq}, status => ($ok ? 0 : 0x0E));
        print "BIND $pdu->{system_id}\n";
    } elsif ($cmd == 0x00000015) {
        $conn->enquire_link_resp(seq => $pdu->{seq});
        print "ENQUIRE_LINK\n";
    } elsif ($cmd == 0x00000004) {
        my $id = $next_id++;
        $conn->submit_sm_resp(message_id => sprintf('%X', $id), seq => $pdu->{seq});
        print "SUBMIT $pdu->{destination_addr} dc=$pdu->{data_coding} esm=$pdu->{esm_class} len=", length($pdu->{short_message}), "\n";
        my $text = sprintf('id:%010d sub:001 dlvrd:001 submit date:2503040100 done date:2503040101 stat:DELIVRD err:000 text:', $id);
        $conn->deliver_sm(source_addr => $pdu->{destination_addr}, source_addr_ton => 1, source_addr_npi => 1,
                          destination_addr => $pdu->{source_addr}, esm_class => 0x04, short_message => $text,
                          receipted_message_id => "$id\0", message_state => pack('C', 2), async => 1);
        if (!$replied++) {
            $conn->deliver_sm(source_addr => $pdu->{destination_addr}, source_addr_ton => 1, source_addr_npi => 1,
                              destination_addr => $pdu->{source_addr}, esm_class => 0, data_coding => 0,
                              short_message => 'Reply from Net::SMPP', async => 1);
        }
    } elsif ($cmd == 0x80000005) {
        print "DELIVER_SM_RESP $pdu->{status}\n";
    } elsif ($cmd == 0x00000006) {
        $conn->unbind_resp(seq => $pdu->{seq});
        print "UNBIND\n";
        last;
    } elsif (!($cmd & 0x80000000)) {
        $conn->generic_nack(seq => $pdu->{seq}, status => 0x03);
    }
}
