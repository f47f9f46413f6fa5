#!/usr/bin/perl
# workload.pl — a deterministic Perl workload for the LD_PRELOAD comparison:
# large hashes, string building, regular expressions, sorting and split/join.
# Hash iteration order is never printed; every output line is a digest of
# sorted or ordered data.
use strict;
use warnings;
use integer;
use Digest::MD5 qw(md5_hex);

my $x = 12345;
sub rnd { $x = ($x * 1103515245 + 12345) % 2147483648; return $x; }

my %h;
for my $i (1 .. 400000) {
    my $k = rnd();
    $h{"key$k"} = "v" . ($k % 1000) x (1 + $k % 7);
}
delete $h{$_} for grep { /7$/ } keys %h;
my $sum = 0;
$sum += length($h{$_}) for keys %h;
print "hash ", scalar(keys %h), " $sum ", md5_hex(join(",", sort keys %h)), "\n";

my $text = "";
for my $i (1 .. 200000) {
    $text .= sprintf("line %d word%d %s\n", $i, (rnd() >> 8) % 1000, "x" x ((rnd() >> 8) % 30));
}
my $count = () = $text =~ /word(\d*7)\b/g;
(my $copy = $text) =~ s/word(\d+)/W<$1>/g;
$copy =~ s/x{10,}/LONG/g;
print "text ", length($text), " $count ", md5_hex($copy), "\n";

my @lines = split /\n/, $text;
my @sorted = sort { length($a) <=> length($b) or $a cmp $b } @lines;
print "sort ", scalar(@sorted), " ", md5_hex(join("\n", @sorted)), "\n";

my @arrays;
for my $i (1 .. 2000) {
    push @arrays, [ map { $_ * $i } 1 .. ($i % 300) ];
}
my $total = 0;
$total += scalar(@$_) for @arrays;
@arrays = ();
my $big = "abc" x 3000000;
my $n = ($big =~ tr/b/B/);
print "arrays $total big ", length($big), " $n\n";
