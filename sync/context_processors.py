from sync.roles import ADMIN, OPERATOR, has_role


def roles(request):
    user = getattr(request, "user", None)
    if user is None:
        return {}
    return {"is_operator": has_role(user, OPERATOR), "is_admin": has_role(user, ADMIN)}
