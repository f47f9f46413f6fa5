#!/usr/bin/perl
# workload.pl — a deterministic allocation-heavy perl workload.
# Prints "name<TAB>value" lines: digests of what each phase computed.
use strict;
use warnings;
use Digest::SHA qw(sha256_hex);
use Storable qw(freeze thaw dclone);
use threads;
use Thread::Queue;

my $scale = shift // 1;
my $seed = 12345;
sub rnd { $seed = ($seed * 1103515245 + 12345) % 2147483648; return $seed; }
my @words = qw(alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo
               lima mike november oscar papa quebec romeo sierra tango uniform);
sub phrase { my $n = shift; join ' ', map { $words[rnd() % @words] } 1 .. $n }
sub out { printf "%s\t%s\n", @_ }

# 1. big hash: insert, update, delete, iterate in sorted order
my %h;
for my $i (1 .. 300_000 * $scale) {
    my $k = sprintf "k%07d-%s", rnd() % 1_000_000, $words[$i % @words];
    $h{$k} .= phrase(1 + $i % 5);
}
for my $k (grep { /7-/ } keys %h) { delete $h{$k} }
for my $k (grep { /3-[a-f]/ } keys %h) { $h{$k} = uc $h{$k} x 3 }
out 'hash', scalar(keys %h) . ' ' . sha256_hex(join "\n", map { "$_=$h{$_}" } sort keys %h);

# 2. regexes over a large text: substitutions, captures, split/join
my $text = join "\n", map { phrase(5 + rnd() % 30) } 1 .. 60_000 * $scale;
my %count;
$count{$1}++ while $text =~ /\b(\w*[aeiou]{2}\w*)\b/g;
out 'regex_count', join ',', map { "$_:$count{$_}" } sort keys %count;
(my $t2 = $text) =~ s/(\w+) (\w+)/$2 $1/g;
$t2 =~ s/([aeiou])/\U$1/g;
$t2 =~ s/(?<=\s)(\w{5,})(?=\s)/length($1) . ":" . reverse($1)/ge;
out 'regex_subst', length($t2) . ' ' . sha256_hex($t2);
my @lines = split /\n/, $t2;
my @sorted = sort { length($a) <=> length($b) or $a cmp $b } @lines;
out 'split_sort', scalar(@sorted) . ' ' . sha256_hex(join '|', @sorted[0 .. 999]);

# 3. growing and shrinking strings and arrays
my @arr;
for my $i (1 .. 200_000 * $scale) {
    push @arr, 'x' x (rnd() % 300);
    $arr[rnd() % @arr] .= phrase(2) if $i % 3 == 0;
    splice(@arr, rnd() % @arr, 1) if $i % 7 == 0;
    shift @arr if $i % 11 == 0;
}
my $s = '';
$s .= $_ for @arr;
out 'arrays', scalar(@arr) . ' ' . length($s) . ' ' . sha256_hex($s);
undef $s; @arr = ();

# 4. nested structures, deep copies, serialization
my $tree = {};
for my $i (1 .. 40_000 * $scale) {
    my $node = $tree;
    $node = ($node->{$words[rnd() % @words]} //= {}) for 1 .. 1 + rnd() % 5;
    push @{ $node->{list} }, [ $i, phrase(2), { n => $i * 3 } ];
}
my $copy = dclone($tree);
my $frozen = freeze($copy);
my $back = thaw($frozen);
sub walk { my ($n, $d) = @_; my $c = 0;
    for my $k (sort keys %$n) { $c += $k eq 'list' ? scalar(@{ $n->{$k} }) * $d : walk($n->{$k}, $d + 1) }
    return $c }
out 'tree', walk($back, 1) . ' ' . length($frozen);

# 5. pack/unpack, sprintf, sort numerics
my @nums = map { rnd() % 1_000_000 - 500_000 } 1 .. 200_000 * $scale;
my $packed = pack 'l*', @nums;
my @un = sort { $a <=> $b } unpack 'l*', $packed;
out 'numbers', sha256_hex(join ',', @un[0 .. 99], @un[-100 .. -1]) . ' ' .
    sprintf('%.6e', eval { my $t = 0; $t += $_ * 1.5 for @un; $t });

# 6. threads: each builds data that the main thread receives and frees
my $q = Thread::Queue->new;
my @thr = map { my $id = $_; threads->create(sub {
    my %local; my $x = $id * 7919;
    for my $i (1 .. 30_000 * $scale) {
        $x = ($x * 69069 + 1) % 4294967296;
        $local{$x % 50_000} .= chr(97 + $x % 26);
    }
    $q->enqueue(join ',', map { "$_=$local{$_}" } sort { $a <=> $b } keys %local);
    return scalar keys %local }) } 1 .. 4;
my @sizes = map { $_->join } @thr;
my @got; push @got, $q->dequeue for 1 .. 4;
out 'threads', join(' ', @sizes) . ' ' . sha256_hex(join "\n", sort @got);
