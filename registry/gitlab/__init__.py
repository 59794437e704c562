"""GitLab: finding a registry's repositories through GitLab, and knowing each image's
branch, merge request and environment.

- `rest`: the REST API v4 client (token only to GitLab's origin, paging, rate limits);
  `api`: the endpoints read, parsed and checked; `errors`: what can go wrong.
- `token_check`: what the token can do, in plain words.
- `discovery`: the repositories of a group (subgroups included) or of projects.
- `context`: branches, merge requests and environments, refreshed with each sync;
  `refresh`: GitLab's part of a sync.
- `matching`: tying an image to its commit and branch (pure); `ties`: doing that for a
  registry's tags and storing it; `verdicts`: the staleness rules GitLab adds (pure).
"""
