#!/usr/bin/env bash
# scripts/layer-map.sh — the file map of src/ by layer (ARCHITECTURE.md, "Layers"):
# files and lines per layer, the files over 600 lines, and a matrix of which layer's files
# name which other layer with a `crate::<layer>` path (imports and full paths; comments and
# string literals are ignored). Read-only; the same rule as the unit test in src/layers.rs,
# which is what fails the build (`cargo test`, hence scripts/test) when an import points up.
#
# Usage: scripts/layer-map.sh [SRC_DIR]     (default: src/ of this checkout)
#   e.g. before/after a change:  git worktree add /tmp/base <commit> &&
#        scripts/layer-map.sh /tmp/base/src
set -euo pipefail
src=${1:-$(dirname "$0")/../src}
[[ -d $src ]] || { echo "no such directory: $src" >&2; exit 1; }

perl - "$src" <<'PERL'
use strict;
use warnings;
use File::Find;

my $src = shift;
my @layers = qw(cli web views control monitor remote store pipeline model);
my %is_layer = map { $_ => 1 } @layers;
my (%files, %lines, %matrix, @big);

my @paths;
find({ wanted => sub { push @paths, $File::Find::name if /\.rs$/ }, no_chdir => 1 }, $src);
for my $path (sort @paths) {
    (my $rel = $path) =~ s{^\Q$src\E/?}{};
    my ($top) = $rel =~ m{^([^/]+)};
    $top =~ s/\.rs$//;
    my $layer = $is_layer{$top} ? $top : '(root)';
    open my $fh, '<', $path or die "$path: $!";
    my @text = <$fh>;
    close $fh;
    $files{$layer}++;
    $lines{$layer} += @text;
    if (@text > 600) {
        my $head = join '', grep { m{^//!} } @text[0 .. 79];
        my $why = $head =~ /over 600 lines/i ? '  (says why at its top)' : '  (NO reason at its top)';
        push @big, sprintf('%6d  %s%s', scalar @text, $rel, $why);
    }
    # Code only: drop // comments and string literals, line by line.
    my $code = '';
    for my $l (@text) {
        $l =~ s/"(?:[^"\\]|\\.)*"//g;
        $l =~ s{//.*$}{};
        $code .= $l;
    }
    my %targets;
    while ($code =~ /crate::\s*(\{)?/g) {
        if ($1) {
            # A group: its first-level items.
            my $depth = 0;
            my $item = '';
            my $pos = pos($code);
            while ($pos < length $code) {
                my $c = substr($code, $pos++, 1);
                if ($c eq '{') { $depth++; next }
                if ($c eq '}') { last if $depth == 0; $depth--; next }
                if ($depth == 0 && $c eq ',') { $targets{$1} = 1 if $item =~ /^\s*(\w+)/; $item = ''; next }
                $item .= $c if $depth == 0;
            }
            $targets{$1} = 1 if $item =~ /^\s*(\w+)/;
        } elsif ($code =~ /\G(\w+)/gc) {
            $targets{$1} = 1;
        }
    }
    for my $t (keys %targets) {
        next unless $is_layer{$t} && $t ne $layer && $layer ne '(root)';
        $matrix{$layer}{$t}++;
    }
}

print "Files and lines per layer (top to bottom):\n";
my ($tf, $tl) = (0, 0);
for my $l (@layers, '(root)') {
    next unless $files{$l};
    printf "  %-9s %4d files %7d lines\n", $l, $files{$l}, $lines{$l};
    $tf += $files{$l};
    $tl += $lines{$l};
}
printf "  %-9s %4d files %7d lines\n", 'total', $tf, $tl;

print "\nFiles over 600 lines:\n";
print @big ? join("\n", @big) . "\n" : "  none\n";

print "\nFiles of layer ROW naming crate::COLUMN (an entry right of the diagonal is an\n";
print "import pointing down; left of it, one pointing up):\n";
printf "  %-9s", '';
printf " %8s", $_ for @layers;
print "\n";
my $up = 0;
for my $i (0 .. $#layers) {
    my $from = $layers[$i];
    next unless $files{$from};
    printf "  %-9s", $from;
    for my $j (0 .. $#layers) {
        my $n = $matrix{$from}{$layers[$j]} // 0;
        printf " %8s", $i == $j ? '·' : ($n || '-');
        $up += $n if $j < $i && !($from eq 'views' && $layers[$j] eq 'web')
            && !($from eq 'web' && $layers[$j] eq 'views');
    }
    print "\n";
}
printf "\nUpward entries (web|views siblings aside): %d; views naming store/remote: %d\n",
    $up, ($matrix{views}{store} // 0) + ($matrix{views}{remote} // 0);
PERL
