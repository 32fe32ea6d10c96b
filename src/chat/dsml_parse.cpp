#include "chat/dsml_parse.h"

#include <algorithm>

#include "chat/dsml_syntax.h"
#include "chat/lenient_json.h"

namespace dstar::chat {
namespace {

constexpr std::string_view kThinkClose = "</think>";
constexpr std::string_view kThinkOpen = "<think>";

// How many alternative block starts (earlier markers, earlier </think>) the lenient reading
// tries; real completions have one or two.
constexpr int kMaxAlternativeStarts = 8;

bool starts_at(std::string_view s, size_t pos, std::string_view lit) {
    return pos <= s.size() && s.substr(pos).starts_with(lit);
}

bool is_utf8_continuation(char c) { return (static_cast<unsigned char>(c) & 0xc0) == 0x80; }

// Strips one leading <think>, then splits at the first </think>.
void split_reasoning(std::string_view text, ParsedReply &out) {
    std::string_view body = text;
    if (body.starts_with(kThinkOpen)) body.remove_prefix(kThinkOpen.size());
    const size_t close = body.find(kThinkClose);
    if (close == std::string_view::npos) {
        out.reasoning.reset();
        out.content = std::string(text);  // note: the whole text, <think> included (ds4)
        return;
    }
    out.reasoning = std::string(body.substr(0, close));
    out.content = std::string(body.substr(close + kThinkClose.size()));
}

// Appends `"name": value` to ds4's internal arguments form.
void add_argument(std::string &args, std::string_view name, std::string_view value, bool is_string) {
    if (!args.empty()) args += ", ";
    append_json_string(args, name);
    args += ": ";
    if (is_string) {
        append_json_string(args, value);
    } else {
        const std::string min = minify_json_value(value);
        args += min.empty() ? "null" : min;
    }
}

// A short quoted excerpt of s at pos, for error messages.
std::string excerpt_at(std::string_view s, size_t pos) {
    if (pos >= s.size()) return "the end of the text";
    constexpr size_t kMax = 40;
    size_t n = std::min(kMax, s.size() - pos);
    const bool cut = n < s.size() - pos;
    while (cut && n > 0 && is_utf8_continuation(s[pos + n])) n--;
    std::string out = "\"";
    append_json_escaped(out, s.substr(pos, n));
    if (cut) out += "...";
    out += '"';
    return out;
}

std::string quoted(std::string_view name) {
    std::string out;
    out.reserve(name.size() + 2);
    out.push_back('\'');
    out.append(name);
    out.push_back('\'');
    return out;
}

// Bounds the lenient reading, a depth-first search over which closing tag ends each value, so
// that a text full of closing tags costs bounded time (each reading is linear in the block).
// A closing tag followed by text needs one reading; a block that ends early needs a few
// more per value after the one that held the tags.
struct SearchBudget {
    int walks = 128;
    long steps = 1'000'000;
};

// Index of the first closing tag at or after closers[i] that ends a value (is followed by more
// tool-call syntax); npos if none or the budget ran out.
size_t next_real_closer(std::string_view text, const DsmlSyntax &syn, const std::vector<size_t> &closers,
                        size_t i, bool nested, SearchBudget &budget) {
    for (; i < closers.size(); i++) {
        if (--budget.steps < 0) return std::string_view::npos;
        if (dsml_value_follow(text, closers[i] + syn.param_end.size(), syn, nested) == DsmlFollow::Tag) return i;
    }
    return std::string_view::npos;
}

// The state the lenient search keeps between readings of one block.
struct LenientPlan {
    struct Site {
        size_t value_start;
        bool nested;
    };
    std::vector<size_t> closers;  // every closing parameter tag after the start marker
    std::vector<size_t> picks;    // value k ends at closers[picks[k]]
    std::vector<Site> sites;      // the values the last reading visited
    SearchBudget *budget = nullptr;
};

// One reading of a block, from just after its start marker.  Without a plan it is ds4's
// parser: a value ends at the first closing parameter tag.  With a plan, value k ends at the
// closing tag plan->picks[k]; a value beyond the picks takes the first closing tag followed by
// more tool-call syntax, and that choice is appended.  `build` = false skips assembling the
// arguments (the search only needs to know whether a reading works).
class BlockReader {
public:
    struct Result {
        bool ok = false;
        size_t end = 0;  // just after the closing marker
        std::vector<ParsedToolCall> calls;
        std::string error;
        std::string kept_lookalike;  // the first value that runs past a closing tag
    };

    BlockReader(std::string_view text, const DsmlSyntax &syn, LenientPlan *plan = nullptr, bool build = true)
        : s_(text), syn_(syn), plan_(plan), build_(build) {}

    Result read(size_t pos) {
        Result r;
        values_ = 0;
        if (plan_) plan_->sites.clear();
        for (int invoke = 1;; invoke++) {
            pos = skip_ascii_space(s_, pos);
            if (starts_at(s_, pos, syn_.tool_calls_end)) {
                r.ok = true;
                r.end = pos + syn_.tool_calls_end.size();
                return r;
            }
            auto after = [&] { return invoke == 1 ? std::string() : " after invoke " + std::to_string(invoke - 1); };
            if (pos >= s_.size()) {
                return fail(
                    r, "missing closing " + std::string(syn_.tool_calls_end) +
                           (invoke == 1 ? " (the text ends before any invoke)" : " (the text ends" + after() + ")"));
            }
            if (!starts_at(s_, pos, syn_.invoke_start)) {
                return fail(
                    r, "expected " + std::string(syn_.invoke_start) + " or " + std::string(syn_.tool_calls_end) +
                           (invoke == 1 ? " at the start of the block" : after()) + ", found " + excerpt_at(s_, pos));
            }
            const std::string where = "invoke " + std::to_string(invoke);
            const size_t gt = s_.find('>', pos);
            if (gt == std::string_view::npos) {
                return fail(r, where + ": " + std::string(syn_.invoke_start) + " tag not closed by '>'");
            }
            auto name = dsml_attr(s_.substr(pos, gt - pos + 1), "name");
            if (!name) return fail(r, where + ": no name=\"...\" attribute");
            const std::string ctx = where + " (" + quoted(*name) + ")";
            pos = gt + 1;

            std::string args, last_param;
            for (;;) {
                pos = skip_ascii_space(s_, pos);
                if (starts_at(s_, pos, syn_.invoke_end)) {
                    pos += syn_.invoke_end.size();
                    break;
                }
                if (!parameter(pos, ctx, last_param, args, r)) return r;
            }
            if (build_) r.calls.push_back(ParsedToolCall{std::move(*name), "{" + args + "}"});
        }
    }

private:
    std::string_view s_;
    const DsmlSyntax &syn_;
    LenientPlan *plan_;
    bool build_;
    size_t values_ = 0;

    static Result fail(Result &r, std::string why) {
        r.ok = false;
        r.error = std::move(why);
        return r;
    }

    // One <…parameter …>value</…parameter> at pos.
    bool parameter(size_t &pos, const std::string &ctx, std::string &last_param, std::string &args, Result &r) {
        // Built only for an error message: this runs for every parameter of every reading.
        auto after = [&] { return last_param.empty() ? std::string() : " after parameter " + quoted(last_param); };
        if (!starts_at(s_, pos, syn_.param_start)) {
            if (pos >= s_.size()) {
                fail(r, ctx + ": missing " + std::string(syn_.invoke_end) + " (the text ends" + after() + ")");
            } else {
                // Text right after a value usually means the value held a closing tag as text.
                const std::string hint = !last_param.empty() && s_[pos] != '<'
                                             ? " (the value of " + quoted(last_param) + " may hold an unescaped " +
                                                   std::string(syn_.param_end) + ")"
                                             : "";
                fail(r, ctx + ": expected " + std::string(syn_.param_start) + " or " + std::string(syn_.invoke_end) +
                            after() + ", found " + excerpt_at(s_, pos) + hint);
            }
            return false;
        }
        const size_t tag_end = s_.find('>', pos);
        if (tag_end == std::string_view::npos) {
            fail(r, ctx + ": " + std::string(syn_.param_start) + " tag not closed by '>'" + after());
            return false;
        }
        const std::string_view tag = s_.substr(pos, tag_end - pos + 1);
        auto name = dsml_attr(tag, "name");
        auto is_string = dsml_attr(tag, "string");
        if (!name) {
            fail(r, ctx + ": parameter without a name=\"...\" attribute" + after());
            return false;
        }
        last_param = *name;
        const size_t value_start = tag_end + 1;

        // Drifted shape seen in long generations: no string attribute and child parameters
        // inside.  Turning it into an object lets the client reject or repair the call
        // instead of losing the whole turn.  (The first child is always there: the check
        // below looked for it.)
        if (!is_string && starts_at(s_, skip_ascii_space(s_, value_start), syn_.param_start)) {
            size_t p = value_start;
            std::string members;
            for (;;) {
                p = skip_ascii_space(s_, p);
                if (!starts_at(s_, p, syn_.param_start)) break;
                if (!leaf_parameter(p, ctx, *name, members, r)) return false;
            }
            if (build_) add_argument(args, *name, "{" + members + "}", false);
            p = skip_ascii_space(s_, p);
            if (starts_at(s_, p, syn_.param_end)) p += syn_.param_end.size();
            pos = p;
            return true;
        }
        return value(pos, value_start, false, ctx, *name, *name, is_string, args, r);
    }

    // A parameter inside a nested one: same rules, no further nesting.
    bool leaf_parameter(size_t &pos, const std::string &ctx, const std::string &outer, std::string &members,
                        Result &r) {
        const size_t tag_end = s_.find('>', pos);
        if (tag_end == std::string_view::npos) {
            fail(r, ctx + ", parameter " + quoted(outer) + ": nested " + std::string(syn_.param_start) +
                        " tag not closed by '>'");
            return false;
        }
        const std::string_view tag = s_.substr(pos, tag_end - pos + 1);
        auto name = dsml_attr(tag, "name");
        auto is_string = dsml_attr(tag, "string");
        if (!name) {
            fail(r, ctx + ", parameter " + quoted(outer) + ": nested parameter without a name=\"...\" attribute");
            return false;
        }
        return value(pos, tag_end + 1, true, ctx, *name, outer + "." + *name, is_string, members, r);
    }

    // The value runs to its closing parameter tag.  A missing string attribute means string;
    // any value other than "true" means raw JSON.
    bool value(size_t &pos, size_t value_start, bool nested, const std::string &ctx, std::string_view key,
               const std::string &display, const std::optional<std::string> &is_string, std::string &args,
               Result &r) {
        const size_t value_end = closer(value_start, nested);
        if (value_end == std::string_view::npos) {
            fail(r, ctx + ": parameter " + quoted(display) + " not closed (no " + std::string(syn_.param_end) + ")");
            return false;
        }
        if (build_) {
            const std::string_view raw = s_.substr(value_start, value_end - value_start);
            if (!is_string || *is_string == "true") add_argument(args, key, dsml_unescape(raw), true);
            else add_argument(args, key, raw, false);
        }
        if (plan_ && r.kept_lookalike.empty() && s_.find(syn_.param_end, value_start) < value_end) {
            r.kept_lookalike = ctx + ", parameter " + quoted(display);
        }
        pos = value_end + syn_.param_end.size();
        return true;
    }

    // Position of the closing tag that ends the value starting at value_start, or npos.
    size_t closer(size_t value_start, bool nested) {
        if (!plan_) return s_.find(syn_.param_end, value_start);
        LenientPlan &plan = *plan_;
        const size_t k = values_++;
        plan.sites.push_back({value_start, nested});
        if (k >= plan.picks.size()) {
            const auto first = std::lower_bound(plan.closers.begin(), plan.closers.end(), value_start);
            const size_t pick = next_real_closer(s_, syn_, plan.closers,
                                                 static_cast<size_t>(first - plan.closers.begin()), nested,
                                                 *plan.budget);
            if (pick == std::string_view::npos) return pick;
            plan.picks.push_back(pick);
        }
        return plan.closers[plan.picks[k]];
    }
};

// Moves the search to the next reading in depth-first order: the deepest value that can end
// at a later real closing tag does, and the values after it start over.  False when none can.
bool next_reading(std::string_view text, const DsmlSyntax &syn, LenientPlan &plan) {
    for (size_t k = std::min(plan.picks.size(), plan.sites.size()); k-- > 0;) {
        const size_t next = next_real_closer(text, syn, plan.closers, plan.picks[k] + 1, plan.sites[k].nested,
                                             *plan.budget);
        if (next != std::string_view::npos) {
            plan.picks[k] = next;
            plan.picks.resize(k + 1);
            return true;
        }
        if (plan.budget->steps < 0) return false;
    }
    return false;
}

// Closing tags of the block's family after its end, before any new block starts: the block
// ended early, so some value held DSML written as text.
bool closing_tags_left_over(std::string_view text, size_t end, const DsmlSyntax &syn) {
    const std::string_view tail = text.substr(end);
    const size_t next_block = tail.find(syn.tool_calls_start);
    for (std::string_view tag : {syn.param_end, syn.invoke_end, syn.tool_calls_end}) {
        if (tail.find(tag) < next_block) return true;
    }
    return false;
}

// Where a block begins: `match` is where the matched text starts (at the "\n\n" when that
// variant matched, which then belongs to the raw block), `marker` the start marker itself.
struct BlockStart {
    size_t match;
    size_t marker;
    const DsmlSyntax *syn;
};

// ds4's choice in text[from..]: a "\n\n"-preceded canonical marker anywhere wins over an
// earlier bare one, then the short family, then plain XML.
std::optional<BlockStart> find_block_start(std::string_view text, size_t from) {
    struct Candidate {
        std::string_view prefix;
        const DsmlSyntax *syn;
    };
    static constexpr Candidate kCandidates[] = {
        {"\n\n", &kDsmlFull}, {"", &kDsmlFull}, {"\n\n", &kDsmlShort},
        {"", &kDsmlShort},    {"\n\n", &kDsmlXml}, {"", &kDsmlXml},
    };
    const std::string_view region = text.substr(from);
    for (const Candidate &c : kCandidates) {
        const size_t p = region.find(std::string(c.prefix) + std::string(c.syn->tool_calls_start));
        if (p != std::string_view::npos) return BlockStart{from + p, from + p + c.prefix.size(), c.syn};
    }
    return std::nullopt;
}

// The first lenient reading of the block at `start`, in ds4's order of preference, that closes
// the block with no closing tag of its family left over and passes `accept(end)`.
template <class Accept>
std::optional<BlockReader::Result> read_leniently(std::string_view text, const BlockStart &start,
                                                   SearchBudget &budget, Accept accept) {
    const DsmlSyntax &syn = *start.syn;
    const size_t body = start.marker + syn.tool_calls_start.size();
    LenientPlan plan;
    plan.budget = &budget;
    for (size_t p = text.find(syn.param_end, body); p != std::string_view::npos; p = text.find(syn.param_end, p + 1)) {
        plan.closers.push_back(p);
    }
    while (budget.walks-- > 0 && budget.steps > 0) {
        const BlockReader::Result r = BlockReader(text, syn, &plan, false).read(body);
        budget.steps -= static_cast<long>(plan.sites.size()) + 1;
        if (r.ok && !closing_tags_left_over(text, r.end, syn) && accept(r.end)) {
            // The picks now cover every value, so this reading follows the same path.
            return BlockReader(text, syn, &plan, true).read(body);
        }
        if (!next_reading(text, syn, plan)) return std::nullopt;
    }
    return std::nullopt;
}

ParsedReply reply_with_block(std::string_view text, const BlockStart &start, BlockReader::Result block,
                             std::string recovery) {
    ParsedReply out;
    size_t content_end = start.match;
    while (content_end > 0 && is_ascii_space(text[content_end - 1])) content_end--;
    out.calls = std::move(block.calls);
    out.raw_block = std::string(text.substr(start.match, block.end - start.match));
    split_reasoning(text.substr(0, content_end), out);
    out.recovery = std::move(recovery);
    return out;
}

std::string lookalike_note(const BlockReader::Result &block) {
    if (block.kept_lookalike.empty()) return "";
    return "kept a closing tag written as text inside " + block.kept_lookalike;
}

std::string join_notes(std::string a, const std::string &b) {
    if (a.empty()) return b;
    if (!b.empty()) a += "; " + b;
    return a;
}

// The lenient readings, tried when ds4's reading fails or leaves closing tags behind.
std::optional<ParsedReply> read_with_recovery(std::string_view text, bool thinking, size_t gate,
                                              const std::optional<BlockStart> &ds4_start) {
    SearchBudget budget;
    if (ds4_start) {
        // ds4 prefers a "\n\n"-preceded marker; one quoted inside a value of a block that
        // started earlier with a bare marker wins that way.  Such a block encloses it.
        size_t from = gate;
        for (int tried = 0; tried < kMaxAlternativeStarts; tried++) {
            auto m = find_any_tool_calls_start(text.substr(from));
            if (!m || from + m->pos >= ds4_start->marker) break;
            const size_t marker = from + m->pos;
            const bool blank_line = marker >= gate + 2 && text.substr(marker - 2, 2) == "\n\n";
            const BlockStart start{blank_line ? marker - 2 : marker, marker, m->syntax};
            auto block = read_leniently(text, start, budget, [&](size_t end) { return end > ds4_start->marker; });
            if (block) {
                std::string note = "the block starts at the marker at byte " + std::to_string(marker) +
                                   ", before the one ds4 takes (byte " + std::to_string(ds4_start->marker) +
                                   "), which lies inside one of its values";
                return reply_with_block(text, start, *block, join_notes(note, lookalike_note(*block)));
            }
            from = marker + 1;
        }
        auto block = read_leniently(text, *ds4_start, budget, [](size_t) { return true; });
        if (block) return reply_with_block(text, *ds4_start, *block, lookalike_note(*block));
    }
    if (thinking) {
        // ds4 looks for tool calls only after the last </think>; when that one lies inside a
        // tool-call value, the reasoning really ended at an earlier one and the block after it
        // encloses every later </think>.
        const size_t last = gate - kThinkClose.size();
        size_t g = last;
        for (int tried = 0; tried < kMaxAlternativeStarts && g > 0; tried++) {
            g = text.rfind(kThinkClose, g - 1);
            if (g == std::string_view::npos) break;
            auto start = find_block_start(text, g + kThinkClose.size());
            if (!start || start->marker >= last) continue;
            const size_t first_after = text.find(kThinkClose, g + kThinkClose.size());
            auto block = read_leniently(text, *start, budget, [&](size_t end) {
                return start->marker < first_after && last + kThinkClose.size() <= end;
            });
            if (block) {
                std::string note =
                    "a </think> lies inside a tool-call value: the reasoning ends at the </think> at byte " +
                    std::to_string(g) + ", not at the last one (byte " + std::to_string(last) + ")";
                return reply_with_block(text, *start, *block, join_notes(note, lookalike_note(*block)));
            }
        }
    }
    return std::nullopt;
}

}  // namespace

ParsedReply parse_generated_message(std::string_view text, bool thinking) {
    size_t gate = 0;
    if (thinking) {
        const size_t close = text.rfind(kThinkClose);
        if (close == std::string_view::npos) {
            ParsedReply out;
            split_reasoning(text, out);
            return out;
        }
        gate = close + kThinkClose.size();
    }

    const std::optional<BlockStart> start = find_block_start(text, gate);
    std::optional<BlockReader::Result> strict;
    if (start) {
        strict = BlockReader(text, *start->syn).read(start->marker + start->syn->tool_calls_start.size());
        if (strict->ok && !closing_tags_left_over(text, strict->end, *start->syn)) {
            return reply_with_block(text, *start, std::move(*strict), "");
        }
    }
    if (auto recovered = read_with_recovery(text, thinking, gate, start)) return std::move(*recovered);

    if (!start) {
        ParsedReply out;
        split_reasoning(text, out);
        return out;
    }
    if (strict->ok) return reply_with_block(text, *start, std::move(*strict), "");  // ds4's reading
    ParsedReply failed;
    failed.ok = false;
    failed.content = std::string(text);
    failed.error = std::move(strict->error);
    return failed;
}

std::string compact_arguments_json(std::string_view arguments) {
    auto members = parse_json_object_members(arguments);
    if (!members) return "{}";
    std::string out = "{";
    for (size_t i = 0; i < members->size(); i++) {
        const JsonMember &m = (*members)[i];
        if (i) out += ',';
        append_json_string(out, m.key);
        out += ':';
        if (m.is_string) append_json_string(out, m.value);
        else out += m.value;
    }
    out += '}';
    return out;
}

std::string finish_after_tool_parse_failure(std::string_view finish) {
    if (finish == "length" || finish == "error") return std::string(finish);
    return "stop";
}

}  // namespace dstar::chat
