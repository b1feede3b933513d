# check.pl — the compatibility sweep's perl workload: hashes, regular expressions, sort, sprintf,
# pack/unpack, a fork, big strings.  Deterministic output; exits non-zero when a check fails.
use strict; use warnings;
my $fail = 0;
sub check { my ($name, $ok, $detail) = @_; $fail++ unless $ok; print "$name ", ($ok ? "ok" : "FAIL"), " $detail\n"; }
my %h; $h{"key$_"} = $_ * $_ for 1 .. 200000;
my $sum = 0; $sum += $h{$_} for keys %h;
check("hash", $sum == 200000 * 200001 * 400001 / 6, "keys=" . scalar(keys %h) . " sum=$sum");
my $text = join(" ", map { sprintf("word%05d", $_ * 37 % 100000) } 1 .. 100000);
my @m = $text =~ /word(\d*7)\b/g;
check("regex", @m == 10000, "matches=" . scalar(@m));
my @sorted = sort { $a <=> $b } map { ($_ * 7919) % 100003 } 1 .. 100000;
my $ok = 1; for (1 .. $#sorted) { $ok = 0 if $sorted[$_ - 1] > $sorted[$_] }
check("sort", $ok && $sorted[0] >= 0, "first=$sorted[0] last=$sorted[-1]");
my $packed = pack("N*", 1 .. 50000);
my @back = unpack("N*", $packed);
check("pack", @back == 50000 && $back[-1] == 50000, "bytes=" . length($packed));
my $big = "x" x (32 * 1024 * 1024); $big .= "y";
check("bigstring", length($big) == 32 * 1024 * 1024 + 1, "len=" . length($big));
my $pid = fork(); if (!$pid) { exit(length($big) % 251) } waitpid($pid, 0);
check("fork", ($? >> 8) == (32 * 1024 * 1024 + 1) % 251, "child_status=" . ($? >> 8));
my $s = ""; $s .= chr(65 + $_ % 26) for 1 .. 1000000; (my $t = $s) =~ tr/A-Z/a-z/;
check("tr", $t =~ /^[a-z]+$/ && length($t) == 1000000, "len=" . length($t));
print $fail ? "perl_check: $fail FAILED\n" : "perl_check: all passed\n";
exit($fail ? 1 : 0);
