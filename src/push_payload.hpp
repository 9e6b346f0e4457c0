// A GitHub push payload, read straight from the jsonb datum (no text round trip).
//
// Every pointer below points into the detoasted payload or into palloc'd memory of the current
// context: the struct is plain data and dies with the call.
#pragma once

extern "C" {
#include "postgres.h"
#include "datatype/timestamp.h"
#include "utils/array.h"
#include "utils/jsonb.h"
}

#include "core/chain_record.hpp"

using forgea::core::Bytes;

struct PushEvent {
    Bytes ref;
    Bytes base_ref;
    Bytes after;   // commit_sha
    Bytes before;
    bool created = false;
    bool deleted = false;
    bool forced = false;

    Bytes repo_url;   // as sent (html_url, else clone_url, else ssh_url)
    Bytes repo_key;   // core::repo_key of repo_url, palloc'd
    Bytes repo_full_name;
    forgea::core::NullableInt64 repo_id;

    Bytes pusher_name;
    Bytes pusher_email;
    Bytes sender_login;
    forgea::core::NullableInt64 sender_id;

    int32 commit_count = 0;
    bool commits_truncated = false;  // GitHub lists at most 2048 commits
    bool files_truncated = false;    // ... and at most 3000 files per list per commit
    int32 changed_path_count = 0;
    ArrayType *changed_paths = nullptr;  // text[], sorted bytewise, distinct
    Jsonb *changed_files = nullptr;      // {"added": [...], "modified": [...], "removed": [...]}

    bool has_pushed_at = false;
    TimestampTz pushed_at = 0;
};

// The delivery's headers worth keeping (X-GitHub-Event, X-GitHub-Hook-ID, ...), as a jsonb object
// with short keys, or nullptr when no headers were given.
struct DeliveryHeaders {
    Bytes event;
    Jsonb *metadata = nullptr;
};

constexpr int kGitHubMaxCommits = 2048;
constexpr int kGitHubMaxFilesPerList = 3000;

// Parses payload into *out, or raises a class-22 error naming the JSON path.
void parse_push_event(const Jsonb *payload, PushEvent *out);

// Reads the headers object (case-insensitive names); raises a class-22 error if it is not an object
// or names an event other than "push".
void parse_delivery_headers(const Jsonb *headers, DeliveryHeaders *out);
