# The fenced code blocks of a Markdown file that directly follow a "<!-- run: TAG -->" line, in
# order, each followed by a line "-- end of block N" (docs/integration.md marks what tests run).
doc_blocks() {  # file, tag
    awk -v tag="$2" '
        $0 == "<!-- run: " tag " -->" { armed = 1; next }
        armed && /^```/ && !inside { inside = 1; armed = 0; n++; next }
        inside && /^```/ { inside = 0; print "-- end of block " n; next }
        inside { print }
        !inside && !/^```/ { armed = armed && /^[[:space:]]*$/ }
    ' "$1"
}
