# Sourced by the scripts: find a Python interpreter of a given version, and create a virtualenv
# with the package and its dev extras installed. Defines functions only.

# python_is PYTHON 3.13: PYTHON runs and is that version ("3" alone: any 3.11 or later).
python_is() {
    local python="$1" want="$2"
    [ -n "$python" ] || return 1
    if [ "$want" = 3 ]; then
        "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null
    else
        "$python" -c "import sys; sys.exit('%d.%d' % sys.version_info[:2] != '$want')" 2>/dev/null
    fi
}

# find_python 3.13: print the path of a Python 3.13 interpreter, or return 1. Looks, in order,
# at $PYTHON313 (exactly that one, or an error), python3.13 on PATH (a pyenv shim of a version
# that is not selected does not run, and is passed over), pyenv's versions and uv's Pythons.
find_python() {
    local want="$1" var="PYTHON${1//./}" candidate pyenv_root
    if [ -n "${!var:-}" ]; then
        if python_is "${!var}" "$want"; then
            echo "${!var}"
            return 0
        fi
        echo "$var=${!var} is not a Python $want interpreter." >&2
        return 1
    fi
    candidate="$(command -v "python$want" || true)"
    if python_is "$candidate" "$want"; then
        echo "$candidate"
        return 0
    fi
    pyenv_root="$(pyenv root 2>/dev/null || echo "${PYENV_ROOT:-$HOME/.pyenv}")"
    while IFS= read -r candidate; do
        if python_is "$candidate/bin/python$want" "$want"; then
            echo "$candidate/bin/python$want"
            return 0
        fi
    done < <(ls -d "$pyenv_root/versions/$want" "$pyenv_root/versions/$want".* 2>/dev/null \
        | sort -V -r)
    if command -v uv >/dev/null; then
        # `uv python find` only looks; it never downloads.
        candidate="$(uv python find "$want" 2>/dev/null || true)"
        if python_is "$candidate" "$want"; then
            echo "$candidate"
            return 0
        fi
    fi
    return 1
}

# how_to_get_python 3.13: what to run where that Python is missing.
how_to_get_python() {
    echo "Install Python $1 with one of: 'pyenv install $1', 'uv python install $1'," \
        "or your system's packages (Ubuntu: the deadsnakes PPA, 'apt-get install python$1-venv');" \
        "or point PYTHON${1//./}=/path/to/python$1 at one."
}

# ensure_venv DIR PYTHON WANT [CONSTRAINTS]: DIR is a virtualenv of a Python WANT (as for
# python_is; made by PYTHON when it is not), with the package installed editable with its dev
# extras, under the pip constraints file CONSTRAINTS if given. Reinstalls when pyproject.toml or
# the constraints change. Installs in one checkout take turns (flock), so two test runs started
# at once don't build the package over each other.
ensure_venv() {
    local dir="$1" python="$2" want="$3" constraints="${4:-}" stamp
    stamp="$dir/.installed-$(cat pyproject.toml ${constraints:+"$constraints"} | sha1sum | cut -c1-12)"
    if python_is "$dir/bin/python" "$want" && [ -f "$stamp" ]; then
        return 0
    fi
    if command -v flock >/dev/null; then
        exec 9>"$ROOT/.venv-install.lock"
        flock 9
    fi
    if ! python_is "$dir/bin/python" "$want"; then
        echo "Creating $dir with $python"
        "$python" -m venv --clear "$dir"
    fi
    if [ ! -f "$stamp" ]; then
        echo "Installing the package and its dev extras into $dir${constraints:+ (constraints: $constraints)}"
        rm -f "$dir"/.installed-*
        "$dir/bin/python" -m pip install --quiet --upgrade pip
        "$dir/bin/python" -m pip install --quiet -e ".[dev]" ${constraints:+-c "$constraints"}
        touch "$stamp"
    fi
    if command -v flock >/dev/null; then
        exec 9>&-
    fi
}
