! md_potential.f90: a small equivariant message-passing potential on oeq.
!
! Random but FIXED weights (md_rng: the same numbers on every rank). For an
! atom i with neighbours j within rc (edge vector r = x_j - x_i, d = |r|,
! u = r / d; ghosts included as senders):
!   Y(u)       real spherical harmonics l = 0, 1, 2 (0e+1o+2e, e3nn's order
!              and component normalization: Y1 = sqrt(3) (x, y, z), ...)
!   R_k(d)     f_env(d) * sum_b W_kb B_b(d): 8 Bessel functions sin(b pi d/rc)/d
!              times the p = 6 polynomial envelope (zero with two
!              derivatives at rc), one set of W per layer
!   layer 1    m1 = conv(h0, Y, R1): h0 = C scalars (one species), channelwise
!              uvu to 0e+1o+2e, so m1 is Cx0e+Cx1o+Cx2e
!   update     s = m1 / n_avg; h1 = [tanh(A0 s0 + b0), A1 s1, A2 s2]
!              (channel mixing per l: equivariant)
!   halo       h1 of the ghosts comes from their owners (forward_comm)
!   layer 2    m2 = conv(h1, Y, R2): uvu to 0e only (3C invariants)
!   readout    E_i = k_ml (p . h1_0e + q . tanh(m2 / n_avg))
!   pair       + sum_j A (1 - d/rc)^4 / 2: a short repulsive core (as MACE's
!              optional ZBL term) keeps atoms of a random model apart.
! Forces: the gradient of E flows back through oeq's conv_backward (dx, dy,
! dw) of layer 2, then the ghosts' dh1 go back to their owners
! (reverse_comm), through the node update, through layer 1's backward (dy,
! dw), and then by hand through Y(u(r)) and R(d(r)) onto the edge vectors;
! the two ends of every edge get -+ that gradient, and the ghosts' forces
! go back to their owners (reverse_comm).
!
! Both layers run on oeq's fused convolution in float64 with the
! deterministic flag (edges sorted by receiver, sender_perm sorts them by
! sender): x_rows = owned + ghost atoms, z_rows = owned atoms. On the CUDA
! backend the arrays are copied into device memory allocated from Fortran
! (md_gpu.c) and passed through the type(c_ptr) overloads.
module md_potential
  use, intrinsic :: iso_c_binding
  use, intrinsic :: iso_fortran_env, only: dp => real64, error_unit
  use mpi_f08
  use oeq
  use md_rng
  use md_domain
  implicit none
  private
  public :: potential_t, potential_init, potential_compute, potential_free

  integer, parameter :: n_basis = 8, y_dim = 9
  real(dp), parameter :: pi = 3.141592653589793238462643_dp

  type :: devbuf_t
    type(c_ptr) :: p = c_null_ptr
    integer(c_size_t) :: bytes = 0
  end type devbuf_t

  ! Device buffer slots.
  integer, parameter :: b_y = 1, b_rows = 2, b_cols = 3, b_perm = 4, b_w1 = 5, b_w2 = 6, &
      b_x = 7, b_z = 8, b_dx = 9, b_dy = 10, b_dw = 11, n_bufs = 11

  type :: potential_t
    integer :: nc = 8
    real(dp) :: rc = 1.6_dp, n_avg = 16, k_ml = 1, a_pair = 50
    logical :: use_pair = .true., use_ml = .true.
    integer(c_int) :: backend = OEQ_BACKEND_CPU
    integer :: device = 0
    type(oeq_plan) :: plan1, plan2
    integer :: z1_dim = 0, w1_n = 0, x2_dim = 0, z2_dim = 0, w2_n = 0
    real(dp), allocatable :: emb(:), wr1(:, :), wr2(:, :), a0(:, :), a1(:, :), a2(:, :), b0(:)
    real(dp), allocatable :: p_out(:), q_out(:)
    type(devbuf_t) :: buf(n_bufs)
    integer :: n_edges = 0
    ! Seconds spent in the oeq calls (with the device copies around them).
    real(dp) :: t_oeq = 0
  end type potential_t

  interface
    integer(c_int) function md_gpu_alloc(p, bytes) bind(C)
      import :: c_ptr, c_size_t, c_int
      type(c_ptr), intent(out) :: p
      integer(c_size_t), value :: bytes
    end function md_gpu_alloc
    integer(c_int) function md_gpu_put(dst, src, bytes) bind(C)
      import :: c_ptr, c_size_t, c_int
      type(c_ptr), value :: dst, src
      integer(c_size_t), value :: bytes
    end function md_gpu_put
    integer(c_int) function md_gpu_get(dst, src, bytes) bind(C)
      import :: c_ptr, c_size_t, c_int
      type(c_ptr), value :: dst, src
      integer(c_size_t), value :: bytes
    end function md_gpu_get
    integer(c_int) function md_gpu_free(p) bind(C)
      import :: c_ptr, c_int
      type(c_ptr), value :: p
    end function md_gpu_free
  end interface

contains

  ! Weights and the two oeq plans. Plan creation is staged so that ranks do
  ! not all compile the same kernels at once on a cold cache: world rank 0
  ! first (it fills OEQ_CACHE_DIR), then the first rank of every other node
  ! (a node-local cache directory gets filled once per node), then all the
  ! others, which find the kernels on disk. MPI_Barrier between the stages.
  ! (The CPU backend compiles nothing; the stages then cost three barriers.)
  subroutine potential_init(pot, nc, backend, device, comm, verbose)
    type(potential_t), intent(inout) :: pot
    integer, intent(in) :: nc, device
    integer(c_int), intent(in) :: backend
    type(MPI_Comm), intent(in) :: comm
    logical, intent(in) :: verbose
    type(MPI_Comm) :: node
    integer :: rank, local_rank, stage, my_stage, i, j
    real(dp) :: t0, t_plans
    integer, parameter :: seed = 20261206
    pot%nc = nc
    pot%backend = backend
    pot%device = device
    allocate(pot%emb(nc), pot%wr1(3 * nc, n_basis), pot%wr2(3 * nc, n_basis), pot%a0(nc, nc), &
        pot%a1(nc, nc), pot%a2(nc, nc), pot%b0(nc), pot%p_out(nc), pot%q_out(3 * nc))
    do i = 1, nc
      pot%emb(i) = 1 + 0.5_dp * gaussian(seed, 1, i)
      pot%b0(i) = 0.1_dp * gaussian(seed, 2, i)
      pot%p_out(i) = gaussian(seed, 3, i) / sqrt(real(nc, dp))
      do j = 1, nc
        pot%a0(i, j) = 1.5_dp * gaussian(seed, 4, (i - 1) * nc + j) / sqrt(real(nc, dp))
        pot%a1(i, j) = gaussian(seed, 5, (i - 1) * nc + j) / sqrt(real(nc, dp))
        pot%a2(i, j) = gaussian(seed, 6, (i - 1) * nc + j) / sqrt(real(nc, dp))
      end do
    end do
    do i = 1, 3 * nc
      pot%q_out(i) = gaussian(seed, 7, i) / sqrt(real(3 * nc, dp))
      do j = 1, n_basis
        pot%wr1(i, j) = 2 * gaussian(seed, 8, (i - 1) * n_basis + j) / sqrt(real(n_basis, dp))
        pot%wr2(i, j) = 2 * gaussian(seed, 9, (i - 1) * n_basis + j) / sqrt(real(n_basis, dp))
      end do
    end do

    call MPI_Comm_rank(comm, rank)
    call MPI_Comm_split_type(comm, MPI_COMM_TYPE_SHARED, rank, MPI_INFO_NULL, node)
    call MPI_Comm_rank(node, local_rank)
    call MPI_Comm_free(node)
    t_plans = 0
    do stage = 1, 3
      if ((stage == 1 .and. rank == 0) .or. (stage == 2 .and. rank /= 0 .and. local_rank == 0) &
          .or. (stage == 3 .and. local_rank /= 0)) then
        t0 = MPI_Wtime()
        call make_plans(pot)
        t_plans = MPI_Wtime() - t0
        my_stage = stage
      end if
      call MPI_Barrier(comm)
    end do
    if (verbose) write(*, '(a,i0,a,i0,a,i0,a,f0.3,a)') 'md: rank ', rank, ' (node rank ', &
        local_rank, ') created its plans in stage ', my_stage, ' in ', t_plans, ' s'
  end subroutine potential_init

  subroutine make_plans(pot)
    type(potential_t), intent(inout) :: pot
    type(oeq_problem) :: p1, p2
    character(len=64) :: s1, s2
    integer(c_int64_t) :: xd, yd, zd
    integer :: st
    write(s1, '(i0,a)') pot%nc, 'x0e'
    write(s2, '(3(i0,a))') pot%nc, 'x0e+', pot%nc, 'x1o+', pot%nc, 'x2e'
    call p1%create_channelwise(trim(s1), '0e+1o+2e', '0e+1o+2e')
    call p1%set_dtypes(OEQ_FLOAT64, OEQ_FLOAT64)
    call p2%create_channelwise(trim(s2), '0e+1o+2e', '0e')
    call p2%set_dtypes(OEQ_FLOAT64, OEQ_FLOAT64)
    call p1%dims(xd, yd, zd)
    pot%z1_dim = int(zd)
    pot%w1_n = int(p1%weight_numel())
    call p2%dims(xd, yd, zd)
    pot%x2_dim = int(xd)
    pot%z2_dim = int(zd)
    pot%w2_n = int(p2%weight_numel())
    ! What the node update and the readout assume about the layouts.
    if (pot%z1_dim /= 9 * pot%nc .or. pot%x2_dim /= 9 * pot%nc .or. pot%z2_dim /= 3 * pot%nc &
        .or. pot%w1_n /= 3 * pot%nc .or. pot%w2_n /= 3 * pot%nc .or. yd /= y_dim) &
        call die('unexpected problem dimensions')
    call pot%plan1%create_conv(p1, pot%backend, pot%device, OEQ_CONV_DETERMINISTIC, stat=st)
    if (st == OEQ_SUCCESS) &
        call pot%plan2%create_conv(p2, pot%backend, pot%device, OEQ_CONV_DETERMINISTIC, stat=st)
    if (st /= OEQ_SUCCESS) call die('plan creation: ' // oeq_error_message())
  end subroutine make_plans

  subroutine potential_free(pot)
    type(potential_t), intent(inout) :: pot
    integer :: i
    call pot%plan1%destroy()
    call pot%plan2%destroy()
    do i = 1, n_bufs
      if (c_associated(pot%buf(i)%p)) then
        if (md_gpu_free(pot%buf(i)%p) /= 0) call die('cuMemFree failed')
        pot%buf(i)%p = c_null_ptr
        pot%buf(i)%bytes = 0
      end if
    end do
  end subroutine potential_free

  ! A failure on one rank: nothing collective can follow, so abort the job.
  subroutine die(msg)
    character(len=*), intent(in) :: msg
    write(error_unit, '(a)') 'md: ' // msg
    call MPI_Abort(MPI_COMM_WORLD, 2)
  end subroutine die

  ! Energy (the same on every rank: summed over ranks) and forces on the
  ! owned atoms f(3, nlocal). Ghosts must be current (domain_borders).
  subroutine potential_compute(pot, d, energy, f)
    type(potential_t), intent(inout) :: pot
    type(domain_t), intent(in) :: d
    real(dp), intent(out) :: energy
    real(dp), intent(out) :: f(:, :)
    integer(c_int32_t), allocatable :: rows(:), cols(:), perm(:)
    real(dp), allocatable :: rv(:, :), y(:, :), w1(:, :), w2(:, :), dw1dd(:, :), dw2dd(:, :)
    real(dp), allocatable :: x0(:, :), z1(:, :), h1(:, :), z2(:, :), dz2(:, :), dh1(:, :)
    real(dp), allocatable :: dz1(:, :), dx0(:, :), dy1(:, :), dy2(:, :), dwa(:, :), dwb(:, :)
    real(dp), allocatable :: fall(:, :)
    real(dp) :: e_local, dist, u(3), g(3), t, env, ph, dph
    integer :: nl, na, ne, nc, e, i, j, k
    nl = d%nlocal
    na = d%nlocal + d%nghost
    nc = pot%nc
    call neighbours(d, pot%rc, rows, cols, rv)
    ne = size(rows)
    pot%n_edges = ne
    call sender_sort(cols, na, perm)
    allocate(y(y_dim, ne), w1(pot%w1_n, ne), w2(pot%w2_n, ne), dw1dd(pot%w1_n, ne), &
        dw2dd(pot%w2_n, ne), fall(3, na))
    fall = 0
    e_local = 0
    do e = 1, ne
      dist = norm2(rv(:, e))
      u = rv(:, e) / dist
      y(:, e) = sph(u)
      call radial(pot, dist, w1(:, e), dw1dd(:, e), w2(:, e), dw2dd(:, e))
    end do

    if (pot%use_ml) then
      if (pot%backend /= OEQ_BACKEND_CPU) then
        call put_i(pot%buf(b_rows), rows)
        call put_i(pot%buf(b_cols), cols)
        call put_i(pot%buf(b_perm), perm)
        call put(pot%buf(b_y), y)
        call put(pot%buf(b_w1), w1)
        call put(pot%buf(b_w2), w2)
      end if
      ! Layer 1: every atom starts from the same embedding, ghosts included.
      allocate(x0(nc, na), z1(pot%z1_dim, nl), h1(pot%x2_dim, na), z2(pot%z2_dim, nl))
      do i = 1, na
        x0(:, i) = pot%emb
      end do
      call conv_fwd(pot, pot%plan1, x0, b_w1, w1, y, rows, cols, perm, z1)
      h1 = 0
      do i = 1, nl
        call node_update(pot, z1(:, i) / pot%n_avg, h1(:, i))
      end do
      ! The halo exchange between the layers: ghosts' h1 from their owners.
      call forward_comm(d, h1)
      call conv_fwd(pot, pot%plan2, h1, b_w2, w2, y, rows, cols, perm, z2)
      allocate(dz2(pot%z2_dim, nl))
      do i = 1, nl
        e_local = e_local + pot%k_ml * (dot_product(pot%p_out, h1(1:nc, i)) + &
            sum(pot%q_out * tanh(z2(:, i) / pot%n_avg)))
        dz2(:, i) = pot%k_ml * pot%q_out * (1 - tanh(z2(:, i) / pot%n_avg)**2) / pot%n_avg
      end do
      ! Backward through layer 2, then the ghosts' dh1 back to their owners.
      allocate(dh1(pot%x2_dim, na), dy2(y_dim, ne), dwb(pot%w2_n, ne))
      call conv_bwd(pot, pot%plan2, h1, b_w2, w2, y, dz2, rows, cols, perm, dh1, dy2, dwb)
      call reverse_comm(d, dh1)
      allocate(dz1(pot%z1_dim, nl), dx0(nc, na), dy1(y_dim, ne), dwa(pot%w1_n, ne))
      do i = 1, nl
        dh1(1:nc, i) = dh1(1:nc, i) + pot%k_ml * pot%p_out
        call node_update_grad(pot, h1(:, i), dh1(:, i), dz1(:, i))
        dz1(:, i) = dz1(:, i) / pot%n_avg
      end do
      call conv_bwd(pot, pot%plan1, x0, b_w1, w1, y, dz1, rows, cols, perm, dx0, dy1, dwa)
    end if

    do e = 1, ne
      i = rows(e) + 1
      j = cols(e) + 1
      dist = norm2(rv(:, e))
      u = rv(:, e) / dist
      g = 0
      t = 0
      if (pot%use_ml) then
        g = sph_grad(u, dist, dy1(:, e) + dy2(:, e))
        t = dot_product(dwa(:, e), dw1dd(:, e)) + dot_product(dwb(:, e), dw2dd(:, e))
      end if
      if (pot%use_pair .and. dist < pot%rc) then
        ! Each pair is an edge on both atoms' owners: half the energy on each.
        env = 1 - dist / pot%rc
        ph = 0.5_dp * pot%a_pair * env**4
        dph = -2 * pot%a_pair * env**3 / pot%rc
        e_local = e_local + ph
        t = t + dph
      end if
      g = g + t * u
      ! E depends on r = x_j - x_i: dE/dx_j = g, dE/dx_i = -g.
      fall(:, j) = fall(:, j) - g
      fall(:, i) = fall(:, i) + g
    end do
    call reverse_comm(d, fall)
    do k = 1, nl
      f(:, k) = fall(:, k)
    end do
    call MPI_Allreduce(e_local, energy, 1, MPI_DOUBLE_PRECISION, MPI_SUM, d%comm)
  end subroutine potential_compute

  ! h1 from s = m1 / n_avg (one atom). Blocks of s and h1 are [mul][2l+1]
  ! (oeq's mul_ir layout): component m of channel c of the block at offset
  ! o is at o + (c - 1) (2l+1) + m.
  subroutine node_update(pot, s, h)
    type(potential_t), intent(in) :: pot
    real(dp), intent(in) :: s(:)
    real(dp), intent(out) :: h(:)
    integer :: nc, c, k
    nc = pot%nc
    do c = 1, nc
      h(c) = tanh(dot_product(pot%a0(c, :), s(1:nc)) + pot%b0(c))
    end do
    h(nc + 1:) = 0
    do c = 1, nc
      do k = 1, nc
        h(nc + 3 * (c - 1) + 1:nc + 3 * c) = h(nc + 3 * (c - 1) + 1:nc + 3 * c) + &
            pot%a1(c, k) * s(nc + 3 * (k - 1) + 1:nc + 3 * k)
        h(4 * nc + 5 * (c - 1) + 1:4 * nc + 5 * c) = h(4 * nc + 5 * (c - 1) + 1:4 * nc + 5 * c) + &
            pot%a2(c, k) * s(4 * nc + 5 * (k - 1) + 1:4 * nc + 5 * k)
      end do
    end do
  end subroutine node_update

  ! ds = (dh1/ds)^T dh for the node update above (h holds its output).
  subroutine node_update_grad(pot, h, dh, ds)
    type(potential_t), intent(in) :: pot
    real(dp), intent(in) :: h(:), dh(:)
    real(dp), intent(out) :: ds(:)
    real(dp) :: g0(pot%nc)
    integer :: nc, c, k
    nc = pot%nc
    g0 = dh(1:nc) * (1 - h(1:nc)**2)
    do k = 1, nc
      ds(k) = dot_product(pot%a0(:, k), g0)
    end do
    ds(nc + 1:) = 0
    do c = 1, nc
      do k = 1, nc
        ds(nc + 3 * (k - 1) + 1:nc + 3 * k) = ds(nc + 3 * (k - 1) + 1:nc + 3 * k) + &
            pot%a1(c, k) * dh(nc + 3 * (c - 1) + 1:nc + 3 * c)
        ds(4 * nc + 5 * (k - 1) + 1:4 * nc + 5 * k) = ds(4 * nc + 5 * (k - 1) + 1:4 * nc + 5 * k) + &
            pot%a2(c, k) * dh(4 * nc + 5 * (c - 1) + 1:4 * nc + 5 * c)
      end do
    end do
  end subroutine node_update_grad

  ! Per-edge weights of both layers and their derivatives in d.
  subroutine radial(pot, dist, w1, d1, w2, d2)
    type(potential_t), intent(in) :: pot
    real(dp), intent(in) :: dist
    real(dp), intent(out) :: w1(:), d1(:), w2(:), d2(:)
    real(dp) :: b(n_basis), db(n_basis), x, env, denv, k, c
    integer :: n
    c = sqrt(2 / pot%rc)
    do n = 1, n_basis
      k = n * pi / pot%rc
      b(n) = c * sin(k * dist) / dist
      db(n) = c * (k * cos(k * dist) / dist - sin(k * dist) / dist**2)
    end do
    x = dist / pot%rc
    if (x < 1) then
      env = 1 - 28 * x**6 + 48 * x**7 - 21 * x**8
      denv = (-168 * x**5 + 336 * x**6 - 168 * x**7) / pot%rc
    else
      env = 0
      denv = 0
    end if
    w1 = matmul(pot%wr1, b)
    d1 = denv * w1 + env * matmul(pot%wr1, db)
    w1 = env * w1
    w2 = matmul(pot%wr2, b)
    d2 = denv * w2 + env * matmul(pot%wr2, db)
    w2 = env * w2
  end subroutine radial

  ! e3nn's real spherical harmonics of a unit vector, l = 0..2, component
  ! normalization (sum over m of Y_lm^2 = 2l + 1).
  pure function sph(u) result(y)
    real(dp), intent(in) :: u(3)
    real(dp) :: y(y_dim)
    real(dp), parameter :: s3 = sqrt(3.0_dp), s5 = sqrt(5.0_dp), s15 = sqrt(15.0_dp)
    y(1) = 1
    y(2:4) = s3 * u
    y(5) = s15 * u(1) * u(3)
    y(6) = s15 * u(1) * u(2)
    y(7) = s5 * (u(2)**2 - (u(1)**2 + u(3)**2) / 2)
    y(8) = s15 * u(2) * u(3)
    y(9) = s15 / 2 * (u(3)**2 - u(1)**2)
  end function sph

  ! d/dr of sum_m dy_m Y_m(r / |r|): the gradient of the polynomial in u,
  ! projected off u and divided by |r|.
  pure function sph_grad(u, dist, dy) result(g)
    real(dp), intent(in) :: u(3), dist, dy(y_dim)
    real(dp) :: g(3), gu(3)
    real(dp), parameter :: s3 = sqrt(3.0_dp), s5 = sqrt(5.0_dp), s15 = sqrt(15.0_dp)
    gu = s3 * dy(2:4)
    gu = gu + dy(5) * s15 * [u(3), 0.0_dp, u(1)]
    gu = gu + dy(6) * s15 * [u(2), u(1), 0.0_dp]
    gu = gu + dy(7) * s5 * [-u(1), 2 * u(2), -u(3)]
    gu = gu + dy(8) * s15 * [0.0_dp, u(3), u(2)]
    gu = gu + dy(9) * s15 * [-u(1), 0.0_dp, u(3)]
    g = (gu - u * dot_product(u, gu)) / dist
  end function sph_grad

  ! Edges (receiver = owned atom i, sender = any atom j /= i within rc),
  ! sorted by receiver; rv = x_j - x_i. Cell lists over the local atoms.
  subroutine neighbours(d, rc, rows, cols, rv)
    type(domain_t), intent(in) :: d
    real(dp), intent(in) :: rc
    integer(c_int32_t), allocatable, intent(out) :: rows(:), cols(:)
    real(dp), allocatable, intent(out) :: rv(:, :)
    real(dp) :: lo(3), size_c(3), r(3)
    integer :: nc(3), na, i, j, a, b, q, ne, pass
    integer, allocatable :: head(:, :, :), next(:), cell(:, :)
    na = d%nlocal + d%nghost
    if (d%nlocal == 0) then
      allocate(rows(0), cols(0), rv(3, 0))
      return
    end if
    lo = minval(d%x(:, 1:na), dim=2)
    do a = 1, 3
      nc(a) = max(1, int((maxval(d%x(a, 1:na)) - lo(a)) / rc))
      size_c(a) = max((maxval(d%x(a, 1:na)) - lo(a)) / nc(a), tiny(1.0_dp))
    end do
    allocate(head(nc(1), nc(2), nc(3)), next(na), cell(3, na))
    head = 0
    do j = na, 1, -1
      cell(:, j) = min(nc, 1 + int((d%x(:, j) - lo) / size_c))
      next(j) = head(cell(1, j), cell(2, j), cell(3, j))
      head(cell(1, j), cell(2, j), cell(3, j)) = j
    end do
    ! Count, then fill.
    do pass = 1, 2
      ne = 0
      do i = 1, d%nlocal
        do a = max(1, cell(1, i) - 1), min(nc(1), cell(1, i) + 1)
          do b = max(1, cell(2, i) - 1), min(nc(2), cell(2, i) + 1)
            do q = max(1, cell(3, i) - 1), min(nc(3), cell(3, i) + 1)
              j = head(a, b, q)
              do while (j /= 0)
                r = d%x(:, j) - d%x(:, i)
                if (j /= i .and. dot_product(r, r) < rc * rc) then
                  ne = ne + 1
                  if (pass == 2) then
                    rows(ne) = int(i - 1, c_int32_t)
                    cols(ne) = int(j - 1, c_int32_t)
                    rv(:, ne) = r
                  end if
                end if
                j = next(j)
              end do
            end do
          end do
        end do
      end do
      if (pass == 1) allocate(rows(ne), cols(ne), rv(3, ne))
    end do
  end subroutine neighbours

  ! The permutation (0-based) that sorts the edges by sender, stable.
  subroutine sender_sort(cols, na, perm)
    integer(c_int32_t), intent(in) :: cols(:)
    integer, intent(in) :: na
    integer(c_int32_t), allocatable, intent(out) :: perm(:)
    integer, allocatable :: start(:)
    integer :: e, k
    allocate(start(na + 1), perm(size(cols)))
    start = 0
    do e = 1, size(cols)
      start(cols(e) + 2) = start(cols(e) + 2) + 1
    end do
    do k = 2, na + 1
      start(k) = start(k) + start(k - 1)
    end do
    do e = 1, size(cols)
      start(cols(e) + 1) = start(cols(e) + 1) + 1
      perm(start(cols(e) + 1)) = int(e - 1, c_int32_t)
    end do
  end subroutine sender_sort

  ! ---------------------------------------------------------------- oeq calls

  subroutine conv_fwd(pot, plan, x, bw, w, y, rows, cols, perm, z)
    type(potential_t), intent(inout) :: pot
    type(oeq_plan), intent(in) :: plan
    real(dp), intent(in), target, contiguous :: x(:, :), w(:, :), y(:, :)
    integer, intent(in) :: bw
    integer(c_int32_t), intent(in), target, contiguous :: rows(:), cols(:), perm(:)
    real(dp), intent(inout), target, contiguous :: z(:, :)
    integer :: st
    real(dp) :: t0
    t0 = MPI_Wtime()
    if (pot%backend == OEQ_BACKEND_CPU) then
      call plan%conv_forward(x, y, w, rows, cols, z, sender_perm=perm, stat=st)
    else
      call put(pot%buf(b_x), x)
      call reserve(pot%buf(b_z), storage(z))
      call plan%conv_forward(size(x, 2, c_int64_t), size(z, 2, c_int64_t), size(rows, kind=c_int64_t), &
          pot%buf(b_x)%p, pot%buf(b_y)%p, pot%buf(bw)%p, pot%buf(b_rows)%p, pot%buf(b_cols)%p, &
          pot%buf(b_z)%p, sender_perm=pot%buf(b_perm)%p, stat=st)
      if (st == OEQ_SUCCESS) call get(z, pot%buf(b_z))
    end if
    if (st /= OEQ_SUCCESS) call die('conv_forward: ' // oeq_error_message())
    pot%t_oeq = pot%t_oeq + (MPI_Wtime() - t0)
  end subroutine conv_fwd

  subroutine conv_bwd(pot, plan, x, bw, w, y, dz, rows, cols, perm, dx, dy, dw)
    type(potential_t), intent(inout) :: pot
    type(oeq_plan), intent(in) :: plan
    real(dp), intent(in), target, contiguous :: x(:, :), w(:, :), y(:, :), dz(:, :)
    integer, intent(in) :: bw
    integer(c_int32_t), intent(in), target, contiguous :: rows(:), cols(:), perm(:)
    real(dp), intent(inout), target, contiguous :: dx(:, :), dy(:, :), dw(:, :)
    integer :: st
    real(dp) :: t0
    t0 = MPI_Wtime()
    if (pot%backend == OEQ_BACKEND_CPU) then
      call plan%conv_backward(x, y, w, dz, rows, cols, dx, dy, dw, sender_perm=perm, stat=st)
    else
      call put(pot%buf(b_x), x)
      call put(pot%buf(b_z), dz)
      call reserve(pot%buf(b_dx), storage(dx))
      call reserve(pot%buf(b_dy), storage(dy))
      call reserve(pot%buf(b_dw), storage(dw))
      call plan%conv_backward(size(x, 2, c_int64_t), size(dz, 2, c_int64_t), &
          size(rows, kind=c_int64_t), pot%buf(b_x)%p, pot%buf(b_y)%p, pot%buf(bw)%p, &
          pot%buf(b_z)%p, pot%buf(b_rows)%p, pot%buf(b_cols)%p, pot%buf(b_dx)%p, &
          pot%buf(b_dy)%p, pot%buf(b_dw)%p, sender_perm=pot%buf(b_perm)%p, stat=st)
      if (st == OEQ_SUCCESS) then
        call get(dx, pot%buf(b_dx))
        call get(dy, pot%buf(b_dy))
        call get(dw, pot%buf(b_dw))
      end if
    end if
    if (st /= OEQ_SUCCESS) call die('conv_backward: ' // oeq_error_message())
    pot%t_oeq = pot%t_oeq + (MPI_Wtime() - t0)
  end subroutine conv_bwd

  ! ------------------------------------------------------- device buffers

  integer(c_size_t) function storage(a)
    real(dp), intent(in) :: a(:, :)
    storage = int(size(a), c_size_t) * 8
  end function storage

  ! At least `bytes` of device memory in b (grown, never shrunk).
  subroutine reserve(b, bytes)
    type(devbuf_t), intent(inout) :: b
    integer(c_size_t), intent(in) :: bytes
    if (bytes <= b%bytes .and. c_associated(b%p)) return
    if (c_associated(b%p)) then
      if (md_gpu_free(b%p) /= 0) call die('cuMemFree failed')
    end if
    b%bytes = max(bytes, 2 * b%bytes)
    if (md_gpu_alloc(b%p, b%bytes) /= 0) call die('cuMemAlloc failed')
  end subroutine reserve

  subroutine put(b, a)
    type(devbuf_t), intent(inout) :: b
    real(dp), intent(in), target, contiguous :: a(:, :)
    call reserve(b, storage(a))
    if (size(a) > 0) then
      if (md_gpu_put(b%p, c_loc(a), storage(a)) /= 0) call die('copy to the device failed')
    end if
  end subroutine put

  subroutine put_i(b, a)
    type(devbuf_t), intent(inout) :: b
    integer(c_int32_t), intent(in), target, contiguous :: a(:)
    call reserve(b, int(size(a), c_size_t) * 4)
    if (size(a) > 0) then
      if (md_gpu_put(b%p, c_loc(a), int(size(a), c_size_t) * 4) /= 0) &
          call die('copy to the device failed')
    end if
  end subroutine put_i

  subroutine get(a, b)
    real(dp), intent(inout), target, contiguous :: a(:, :)
    type(devbuf_t), intent(in) :: b
    if (size(a) == 0) return
    if (md_gpu_get(c_loc(a), b%p, storage(a)) /= 0) call die('copy from the device failed')
  end subroutine get
end module md_potential
