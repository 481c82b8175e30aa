# bingo-kit on a JupyterHub: the lines a hub needs (lessons/README.md, "A class on one server").
# The Littlest JupyterHub: copy this file to /opt/tljh/config/jupyterhub_config.d/bingo-kit.py, then
#   sudo tljh-config reload hub
# tests/test_hub.py starts a real hub with exactly this file.

# Each time a student's server starts, before JupyterLab: the student lessons in ~/bingo-lessons. The first
# login makes the folder; later logins add what a newer kit brings and never overwrite a notebook the student
# changed (a fresh copy goes beside it). `;` and not `&&`: a failure here must not stop the login (the hub's
# log shows it).
c.Spawner.cmd = ["/bin/sh", "-c",
                 'bingo-kit lessons "$HOME/bingo-lessons" --no-start; exec jupyterhub-singleuser "$@"',
                 "jupyterhub-singleuser"]

# Students land in JupyterLab, in their lessons folder.
c.Spawner.default_url = "/lab/tree/bingo-lessons"

# Each student's Simulated Uno is their own with no setting: the kit keeps its memory in
# ~/.cache/bingo-kit/hub-users/<hub user name>/ (from $JUPYTERHUB_USER, which the hub sets), even on a hub
# that runs everyone as one Unix user or gives everyone one BINGO_KIT_CACHE.
