/* pyrunc.shim._libc: the libc calls the shim makes that Python has no
 * binding for: naming a process, becoming the subreaper of its children
 * (prctl), and mounting a task's root filesystem (mount, umount2).
 *
 * In C, not ctypes: ctypes and its handle were a quarter of a MiB of every
 * shim's memory for four calls. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <errno.h>
#include <sys/mount.h>
#include <sys/prctl.h>

static PyObject *libc_set_name(PyObject *self, PyObject *arg)
{
    const char *name = PyUnicode_AsUTF8(arg);
    if (name == NULL)
        return NULL;
    if (prctl(PR_SET_NAME, (unsigned long)name, 0, 0, 0) != 0)
        return PyErr_SetFromErrno(PyExc_OSError);
    Py_RETURN_NONE;
}

static PyObject *libc_set_subreaper(PyObject *self, PyObject *unused)
{
    if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0)
        return PyErr_SetFromErrno(PyExc_OSError);
    Py_RETURN_NONE;
}

static PyObject *libc_mount(PyObject *self, PyObject *args)
{
    const char *source, *target, *fstype, *data;
    unsigned long flags;
    if (!PyArg_ParseTuple(args, "sssks", &source, &target, &fstype, &flags, &data))
        return NULL;
    int ret;
    Py_BEGIN_ALLOW_THREADS      /* an overlay mount may take a while: other tasks go on */
    ret = mount(source, target, fstype, flags, *data ? data : NULL);
    Py_END_ALLOW_THREADS
    if (ret != 0)
        return PyErr_SetFromErrnoWithFilename(PyExc_OSError, target);
    Py_RETURN_NONE;
}

static PyObject *libc_umount2(PyObject *self, PyObject *args)
{
    const char *target;
    int flags;
    if (!PyArg_ParseTuple(args, "si", &target, &flags))
        return NULL;
    int ret;
    Py_BEGIN_ALLOW_THREADS
    ret = umount2(target, flags);
    Py_END_ALLOW_THREADS
    if (ret != 0)
        return PyErr_SetFromErrnoWithFilename(PyExc_OSError, target);
    Py_RETURN_NONE;
}

static PyMethodDef libc_methods[] = {
    {"set_name", libc_set_name, METH_O, "set_name(name): the calling thread's comm, as ps shows it"},
    {"set_subreaper", libc_set_subreaper, METH_NOARGS, "set_subreaper(): orphaned descendants become our children"},
    {"mount", libc_mount, METH_VARARGS, "mount(source, target, fstype, flags, data): data '' for none"},
    {"umount2", libc_umount2, METH_VARARGS, "umount2(target, flags)"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef libc_module = {
    PyModuleDef_HEAD_INIT, "_libc", "prctl, mount and umount2 for the shim (see libcmodule.c).", -1,
    libc_methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__libc(void)
{
    return PyModule_Create(&libc_module);
}
